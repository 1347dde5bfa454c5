"""Stack configuration: defaults and the combinations Cloud Run would reject."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import pytest
import yaml
from program_modules import PROGRAM_DIR, load

from model.catalog import ModelEntry

config = load("config")
VALID = config.StackConfig(project="acme")


def problems_of(**changes) -> str:
    with pytest.raises(config.ConfigError) as raised:
        dataclasses.replace(VALID, **changes).validate()
    return str(raised.value)


def test_defaults_are_valid_and_production_worthy():
    assert VALID.validate() is VALID
    assert (VALID.min_instances, VALID.memory, VALID.cpu, VALID.concurrency) == (1, "512Mi", "1", 8)
    assert VALID.public is False and VALID.invokers == ()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"cpu": "0.5", "concurrency": 8}, "needs cpu >= 1"),
        ({"cpu": "0.333", "memory": "1Gi", "concurrency": 1}, "above 512Mi needs cpu >= 0.5"),
        ({"cpu": "0.5", "memory": "2Gi", "concurrency": 1}, "above 1Gi needs cpu >= 1"),
        ({"cpu": "1", "memory": "8Gi"}, "above 4Gi needs cpu >= 2"),
        ({"cpu": "4", "memory": "1Gi"}, "cpu 4 needs memory >= 2Gi"),
        ({"cpu": "3"}, "must be 2, 4, 6 or 8"),
        ({"memory": "512MB"}, "memory must look like"),
        ({"memory": "64Mi"}, "128Mi-32Gi"),
        ({"min_instances": 5, "max_instances": 2}, "minInstances <= maxInstances"),
        ({"timeout_seconds": 4000}, "timeoutSeconds"),
        ({"ingress": "PUBLIC"}, "ingress must be one of"),
        ({"function_name": "Sklearn_Inference"}, "functionName"),
        ({"function_name": "a-very-long-function-name-here"}, "functionName"),
        ({"public": True, "invokers": ("user:a@acme.com",)}, "either public or invokers"),
        ({"invokers": ("a@acme.com",)}, "must look like user:"),
        # "a-run" is 5 characters: service-account ids need at least 6.
        ({"function_name": "a"}, "makes the service-account id 'a-run' (5 characters)"),
        # Both become the resource name invokers-user-a-b-x-com: Pulumi would fail halfway.
        (
            {"invokers": ("user:a.b@x.com", "user:a-b@x.com")},
            "'user:a.b@x.com' and 'user:a-b@x.com' map to the same resource name 'user-a-b-x-com'",
        ),
        ({"invokers": ("user:A@x.com", "user:a@x.com")}, "map to the same resource name"),
        ({"alert_email": "oncall"}, "alertEmail"),
        ({"max_body_bytes": 64 * 1024 * 1024}, "32 MiB"),
        ({"max_body_bytes": 0}, "maxBodyBytes must be at least 1"),
        ({"iam_propagation_seconds": -1}, "iamPropagationSeconds must be 0 or more"),
        ({"source_object": "source.zip"}, "sourceObject must name a bundle of this function"),
        (
            {"source_object": f"other-function/source-{'0' * 64}.zip"},
            "sklearn-inference/source-<sha256>.zip, got 'other-function/",
        ),
    ],
)
def test_rejects_what_cloud_run_would_refuse(changes, message):
    assert message in problems_of(**changes)


def test_two_character_function_name_gives_valid_account_ids():
    ok = dataclasses.replace(VALID, function_name="ab").validate()
    assert ok.account_ids == {"runtime": "ab-run", "build": "ab-build"}


def test_source_object_accepts_exactly_what_the_program_uploads():
    archive = load("archive")
    uploaded = archive.object_name(VALID.function_name, b"any archive bytes")
    assert dataclasses.replace(VALID, source_object=uploaded).validate().source_object == uploaded


def test_fractional_cpu_with_concurrency_one_is_accepted():
    assert dataclasses.replace(VALID, cpu="0.333", concurrency=1).validate()


def test_every_problem_is_reported_at_once():
    text = problems_of(cpu="0.5", ingress="X", timeout_seconds=0)
    assert text.count("\n  - ") == 3


class FakeConfig:
    """pulumi.Config's getters over a dict of raw strings."""

    def __init__(self, values: dict[str, str]):
        self.values = values

    def get(self, key: str) -> str | None:
        return self.values.get(key)

    def get_int(self, key: str) -> int | None:
        return int(self.values[key]) if key in self.values else None

    def get_bool(self, key: str) -> bool | None:
        return self.values[key] == "true" if key in self.values else None

    def get_object(self, key: str):
        return yaml.safe_load(self.values[key]) if key in self.values else None


def test_missing_project_says_how_to_set_it():
    with pytest.raises(config.ConfigError, match="pulumi config set gcp:project"):
        config.load("dev", FakeConfig({}), FakeConfig({}))


def test_max_body_bytes_reaches_the_handler_only_when_set():
    unset = config.load("prod", FakeConfig({}), FakeConfig({"project": "acme"}))
    assert unset.max_body_bytes is None
    assert "MAX_BODY_BYTES" not in unset.handler_environment
    set_ = config.load("prod", FakeConfig({"maxBodyBytes": "262144"}), FakeConfig({"project": "a"}))
    assert set_.handler_environment["MAX_BODY_BYTES"] == "262144"


def test_function_name_defaults_to_the_stack_and_source_root_to_the_repository():
    loaded = config.load("prod", FakeConfig({}), FakeConfig({"project": "acme"}))
    assert loaded.function_name == "sklearn-inference-prod"
    assert loaded.source_root == PROGRAM_DIR.parent
    assert loaded.region == "us-central1"


@pytest.mark.parametrize("stack_file", sorted(PROGRAM_DIR.glob("Pulumi.*.yaml")))
def test_example_stack_files_hold_no_secrets_and_only_known_keys(stack_file: Path):
    values = yaml.safe_load(stack_file.read_text())["config"]
    known = {camel(f.name) for f in dataclasses.fields(config.StackConfig)}
    for key, value in values.items():
        namespace, _, name = key.partition(":")
        assert namespace in ("gcp", config.PROJECT), key
        assert namespace == "gcp" or name in known, f"{stack_file.name}: unknown key {key}"
        assert not isinstance(value, dict) or "secure" not in value, f"secret in {key}"


def camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(word.title() for word in rest)


def test_the_guides_configuration_table_lists_every_key():
    guide = (PROGRAM_DIR.parent / "docs" / "deploy-gcp.md").read_text()
    table = guide.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([a-zA-Z0-9:]+)` \|", table, re.MULTILINE))
    keys = {camel(f.name) for f in dataclasses.fields(config.StackConfig)}
    expected = (keys - {"project", "region"}) | {"gcp:project", "gcp:region"}
    assert documented == expected


def test_project_file_uses_the_repository_virtualenv():
    project = yaml.safe_load((PROGRAM_DIR / "Pulumi.yaml").read_text())
    assert project["name"] == config.PROJECT
    assert project["runtime"] == {
        "name": "python",
        "options": {"toolchain": "pip", "virtualenv": "../.venv"},
    }
    # The path, not where it leads: a worktree may link .venv to a shared environment.
    assert os.path.normpath(PROGRAM_DIR / ".." / ".venv") == str(PROGRAM_DIR.parent / ".venv")


# --- per-model settings (models.toml) ---------------------------------------------------------


def entry(name: str, path: str = "model", settings=None, prod=None) -> ModelEntry:
    return ModelEntry(name, path, settings=settings or {}, environments={"prod": prod or {}})


def model_problems(entries, cfg=VALID, stack="prod") -> str:
    with pytest.raises(config.ConfigError) as raised:
        config.model_configs(cfg, entries, stack)
    return str(raised.value)


def test_a_single_model_keeps_the_stack_function_name_pin_and_resource_names():
    [only] = config.model_configs(VALID, [entry("iris")], "prod")
    assert (only.settings.function_name, only.prefix, only.pin_key) == (
        "sklearn-inference",
        "",
        "sourceObject",
    )
    assert only.artifacts == VALID.source_root / "model" / "artifacts"


def test_several_models_get_their_own_function_pin_and_resource_prefix():
    pins = {"wine": f"sklearn-inference-wine/source-{'c' * 64}.zip"}
    cfg = dataclasses.replace(VALID, source_objects=pins)
    iris, wine = config.model_configs(cfg, [entry("iris"), entry("wine", "models/wine")], "dev")
    assert (wine.settings.function_name, wine.prefix, wine.pin_key) == (
        "sklearn-inference-wine",
        "wine-",
        "sourceObjects.wine",
    )
    assert (iris.settings.source_object, wine.settings.source_object) == (None, pins["wine"])
    assert wine.artifacts == VALID.source_root / "models" / "wine" / "artifacts"


def test_model_overrides_apply_per_environment_and_other_clouds_keys_are_ignored():
    wine = entry(
        "wine",
        settings={"memory": "2Gi", "cpu": 2, "alarm_latency_p99_ms": 1500, "memory_mb": 2048},
        prod={"min_instances": 2},
    )
    [dev] = config.model_configs(VALID, [wine], "dev")
    [prod] = config.model_configs(VALID, [wine], "prod")
    assert (dev.settings.memory, dev.settings.cpu, dev.settings.alert_latency_p99_ms) == (
        "2Gi",
        "2",  # cpu = 2 in TOML is the string Cloud Run takes
        1500,
    )
    assert (dev.settings.min_instances, prod.settings.min_instances) == (1, 2)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"cpu": 0.5}, "model wine (models.toml, stack prod): concurrency 8 needs cpu >= 1"),
        ({"memory": 512}, "model wine (models.toml, stack prod): memory must be a string, got 512"),
        ({"min_instances": "2"}, "min_instances must be a whole number, got '2'"),
        ({"max_batch_rows": True}, "max_batch_rows must be a whole number, got True"),
        ({"model_backend": "tensorflow"}, "model wine (models.toml, stack prod): modelBackend"),
        ({"alarm_server_errors": 0}, "alertServerErrors must be at least 1, got 0"),
        ({"timeout_seconds": 7200}, "timeoutSeconds must be 1-3600"),
    ],
)
def test_invalid_model_settings_are_rejected_naming_the_model(settings, message):
    assert message in model_problems([entry("iris"), entry("wine", settings=settings)])


def test_every_models_problems_are_reported_at_once():
    text = model_problems(
        [entry("iris", settings={"cpu": 3}), entry("wine", settings={"memory": "1Tb"})]
    )
    assert "model iris" in text and "model wine" in text and text.count("\n  - ") == 2


def test_a_model_function_name_must_be_a_cloud_run_service_name():
    # models.toml names are short today (model/catalog.py), but the service name is what breaks
    long_name = "m" * 50  # sklearn-inference-mmm...: 68 characters
    assert "is not a Cloud Run service name (1-63" in model_problems(
        [entry("iris"), entry(long_name)]
    )


@pytest.mark.parametrize(
    ("changes", "entries", "message"),
    [
        (
            {"source_objects": {"iris": f"sklearn-inference/source-{'a' * 64}.zip"}},
            ["iris"],
            "serves iris only: pin it with sourceObject",
        ),
        (
            {"source_objects": {"beer": f"sklearn-inference-beer/source-{'a' * 64}.zip"}},
            ["iris", "wine"],
            "sourceObjects.beer: models.toml declares no model 'beer' (declared: iris, wine)",
        ),
        (
            {"source_object": f"sklearn-inference/source-{'a' * 64}.zip"},
            ["iris", "wine"],
            "run `pulumi config rm sourceObject`",
        ),
    ],
)
def test_pins_must_fit_the_number_of_models(changes, entries, message):
    cfg = dataclasses.replace(VALID, **changes)
    assert message in model_problems([entry(name) for name in entries], cfg)


def test_models_file_defaults_to_the_repository_and_the_source_root_follows_it(tmp_path):
    loaded = config.load("prod", FakeConfig({}), FakeConfig({"project": "acme"}))
    assert loaded.models_file == PROGRAM_DIR.parent / "models.toml"
    fork = config.load(
        "prod",
        FakeConfig({"modelsFile": str(tmp_path / "models.toml")}),
        FakeConfig({"project": "a"}),
    )
    assert (fork.models_file, fork.source_root) == (tmp_path / "models.toml", tmp_path)


def test_source_objects_must_map_models_to_bundles():
    with pytest.raises(config.ConfigError, match="sourceObjects must map model names"):
        config.load("prod", FakeConfig({"sourceObjects": "[1, 2]"}), FakeConfig({"project": "a"}))
