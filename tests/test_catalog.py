"""models.toml: the models a fork serves, their directories and the settings each overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from handler.runtime import requirements
from handler.service import InferenceService
from handler.settings import Settings
from model import catalog
from tests.conftest import ROOT


def test_every_declared_model_of_this_repository_has_a_spec_and_its_artifacts() -> None:
    for entry in catalog.load().models:
        assert entry.directory == ROOT / entry.path
        assert catalog.load_spec(entry).name
        assert (entry.artifacts / "manifest.json").is_file(), f"make train MODEL={entry.name}"


def test_the_model_in_model_is_the_primary_one_whatever_else_is_declared(
    two_models: Path, three_models: Path, wine_alone: Path
) -> None:
    for declaration, primary in ((two_models, "iris"), (three_models, "iris"), (wine_alone, None)):
        declared = catalog.load(declaration)
        assert getattr(declared.primary, "name", None) == primary
        assert [e.name for e in declared.models if e.primary] == ([primary] if primary else [])


def test_a_second_model_takes_one_directory_and_one_entry(two_models: Path) -> None:
    declared = catalog.load(two_models)
    assert declared.primary == declared.get("iris")
    wine = declared.get("wine")
    assert wine.title == "Wine" and not wine.primary
    assert wine.overrides("dev") == {
        "memory_mb": 2048,
        "max_batch_rows": 500,
        "alarm_latency_p99_ms": 1500,
    }
    assert wine.overrides("prod")["min_instances"] == 2
    # ...and `make train MODEL=wine` wrote a model the handler serves, with its own runtime.
    service = InferenceService.load(Settings(model_dir=wine.artifacts))
    assert service.model is not None and service.model.manifest.name == "wine-random-forest"
    assert "onnxruntime==" in requirements("aws", wine.artifacts)


def _declare(tmp_path: Path, text: str) -> Path:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "train.py").write_text("")
    path = tmp_path / "models.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "declares no model"),
        ("[models.Iris]\npath = 'model'\n", "a model name is 1-16 lowercase letters and digits"),
        ("[models.iris]\npath = '../elsewhere'\n", 'path must be "model" or "models/<directory>"'),
        ("[models.iris]\npath = 'models/absent'\n", "models/absent/train.py does not exist"),
        (
            "[models.iris]\npath = 'model'\nmemory_gb = 2\n",
            "unknown setting memory_gb; did you mean memory_mb?",
        ),
        (
            "[models.iris]\npath = 'model'\n[models.iris.prod]\nmemory = '2Gi'\n",
            "[models.iris.prod]: memory is no longer a setting: use memory_mb (one key sizes the "
            'model on both clouds: memory = "2Gi" is memory_mb = 2048)',
        ),
        (
            "[models.iris]\npath = 'model'\n[models.iris.prod]\nmemroy_mb = 2\n",
            "[models.iris.prod]",
        ),
        ("[models\n", "is not valid TOML"),
        ("[models.api]\npath = 'model'\n", "'api' names an alarm of the stack's own"),
        (
            "[models.iris]\npath = 'model'\n[models.setosa]\npath = 'model'\n",
            "[models.iris], [models.setosa] share the directory model",
        ),
    ],
)
def test_a_declaration_the_clouds_cannot_serve_is_refused(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(catalog.CatalogError) as raised:
        catalog.load(_declare(tmp_path, text))
    assert message in str(raised.value)


def test_an_undeclared_model_is_named_with_the_declared_ones(two_models: Path) -> None:
    with pytest.raises(
        catalog.CatalogError, match=r"no model named 'beer' in models\.toml; declared: iris, wine"
    ):
        catalog.load(two_models).get("beer")
