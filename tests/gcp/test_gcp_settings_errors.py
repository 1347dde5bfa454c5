"""A bad setting stops the program before anything deploys, with one line per problem naming the
file and the key and no traceback, as `pulumi preview` shows a `pulumi.RunError` (mocked runs)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture
def tree(fake_root: Path, tmp_path: Path) -> Path:
    """A writable copy of the fake source tree (its models.toml declares iris, in model/)."""
    return Path(shutil.copytree(fake_root, tmp_path / "tree"))


def test_a_typo_in_a_key_is_refused_not_ignored(refusal):
    [line] = refusal("prod", "minInstance=2")
    assert line.startswith(
        "Pulumi.prod.yaml: inference-test:minInstance is not a setting of this program (did you "
        "mean minInstances?); it reads alertEmail, "
    )


def test_every_bad_value_of_the_stack_file_is_a_line_of_its_own(refusal):
    assert refusal("dev", "maxInstances=lots", "memory=1GB", "cpu=0.5") == [
        "Pulumi.dev.yaml: maxInstances must be a whole number, got 'lots'",
        "Pulumi.dev.yaml: memory must look like 512Mi or 2Gi, got '1GB'",
    ]


def test_a_bad_model_setting_names_models_toml_the_model_and_its_key(refusal, tree):
    (tree / "models.toml").write_text('[models.iris]\npath = "model"\nmemory_mb = 64\n')
    assert refusal("prod", models=tree / "models.toml") == [
        "models.toml [models.iris] (stack prod): memory_mb must be 128Mi-32Gi (128-32768 MiB), "
        "got 64Mi"
    ]


def test_the_retired_memory_key_points_to_memory_mb(refusal, tree):
    (tree / "models.toml").write_text('[models.iris]\npath = "model"\nmemory = "2Gi"\n')
    assert refusal("prod", models=tree / "models.toml") == [
        "models.toml: [models.iris]: memory is no longer a setting: use memory_mb (one key sizes "
        'the model on both clouds: memory = "2Gi" is memory_mb = 2048)'
    ]


def test_a_declared_model_that_was_never_trained_says_how_to_train_it(refusal, tree):
    (tree / "models" / "wine").mkdir(parents=True)
    (tree / "models" / "wine" / "train.py").write_text("SPEC = None\n")
    with (tree / "models.toml").open("a") as declaration:
        declaration.write('\n[models.wine]\npath = "models/wine"\n')
    [line] = refusal("prod", models=tree / "models.toml")
    assert line.startswith(f"model wine ({tree / 'models' / 'wine' / 'artifacts'}): ")
    assert line.endswith("; (re)train it with `make train MODEL=wine`")
