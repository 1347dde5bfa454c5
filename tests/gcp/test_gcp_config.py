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
        dataclasses.replace(VALID, **changes).validate("Pulumi.prod.yaml")
    assert all(line.startswith("Pulumi.prod.yaml: ") for line in raised.value.problems)
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


def test_every_problem_is_reported_at_once_one_line_each():
    text = problems_of(cpu="0.5", ingress="X", timeout_seconds=0)
    assert len(text.splitlines()) == 3


class FakeConfig:
    """pulumi.Config over a dict of raw strings, as `pulumi config set` stores them."""

    def __init__(self, values: dict[str, str], name: str = "acme-gcp"):
        self.values, self.name = values, name

    def get(self, key: str) -> str | None:
        return self.values.get(key)


GCP = FakeConfig({"project": "acme"}, name="gcp")


def load_problems(values: dict[str, str], keys=()) -> list[str]:
    with pytest.raises(config.ConfigError) as raised:
        config.load("prod", FakeConfig(values), GCP, keys)
    return list(raised.value.problems)


def test_missing_project_says_how_to_set_it():
    with pytest.raises(config.ConfigError) as raised:
        config.load("dev", FakeConfig({}), FakeConfig({}, name="gcp"))
    assert raised.value.problems == (
        "Pulumi.dev.yaml: gcp:project is not set: run `pulumi config set gcp:project <id>`",
    )


def test_every_bad_value_is_one_line_naming_the_file_the_key_and_what_it_takes():
    assert load_problems(
        {
            "minInstances": "one",
            "public": "yes",
            "invokers": '"user:a@acme.com"',
            "sourceObjects": '{"wine": 1}',
            "memory": "1GB",
            "ingress": "PUBLIC",
        }
    ) == [
        "Pulumi.prod.yaml: invokers must be a list of members such as "
        '["user:a@example.com"], got \'"user:a@acme.com"\'',
        "Pulumi.prod.yaml: sourceObjects must be a map of model names to bundles of the bucket, "
        "got '{\"wine\": 1}'",
        "Pulumi.prod.yaml: minInstances must be a whole number, got 'one'",
        "Pulumi.prod.yaml: public must be true or false, got 'yes'",
        "Pulumi.prod.yaml: ingress must be one of ALLOW_ALL, ALLOW_INTERNAL_ONLY, "
        "ALLOW_INTERNAL_AND_GCLB, got 'PUBLIC'",
        "Pulumi.prod.yaml: memory must look like 512Mi or 2Gi, got '1GB'",
    ]


def test_a_key_of_the_projects_namespace_the_program_does_not_read_is_refused():
    # GIVEN a typo (minInstance) next to keys of other namespaces, which are not the program's
    keys = {"acme-gcp:minInstance", "acme-gcp:minInstances", "gcp:region", "other:anything"}
    [problem] = load_problems({"minInstances": "1"}, keys)
    # THEN only the typo is refused, with the key it resembles and every key there is
    assert problem.startswith(
        "Pulumi.prod.yaml: acme-gcp:minInstance is not a setting of this program (did you mean "
        "minInstances?); it reads alertEmail, alertLatencyP99Ms, "
    )
    assert problem.endswith(", sourceRoot, timeoutSeconds")


def test_function_name_defaults_to_the_stack_and_source_root_to_the_repository():
    loaded = config.load("prod", FakeConfig({}), GCP)
    assert loaded.function_name == "sklearn-inference-prod"
    assert loaded.source_root == PROGRAM_DIR.parent
    assert loaded.region == "us-central1"


@pytest.mark.parametrize("stack_file", sorted(PROGRAM_DIR.glob("Pulumi.*.yaml")))
def test_stack_files_hold_no_secrets_and_only_keys_the_program_reads(stack_file: Path):
    # Whatever the project is called (Pulumi.yaml `name:`, which a fork may change)
    project = yaml.safe_load((PROGRAM_DIR / "Pulumi.yaml").read_text())["name"]
    values = yaml.safe_load(stack_file.read_text())["config"]
    for key, value in values.items():
        assert key.partition(":")[0] in ("gcp", project), f"{stack_file.name}: {key}"
        assert not isinstance(value, dict) or "secure" not in value, f"secret in {key}"
    assert config.unknown_key_problems(set(values), project) == [], stack_file.name


def test_the_guides_configuration_table_lists_every_key():
    guide = (PROGRAM_DIR.parent / "docs" / "deploy-gcp.md").read_text()
    table = guide.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([a-zA-Z0-9:]+)` \|", table, re.MULTILINE))
    keys = set(config.KEYS)
    expected = keys | {"gcp:project", "gcp:region"}
    assert documented == expected


def test_project_file_uses_the_repository_virtualenv():
    project = yaml.safe_load((PROGRAM_DIR / "Pulumi.yaml").read_text())
    assert project["runtime"] == {
        "name": "python",
        "options": {"toolchain": "pip", "virtualenv": "../.venv"},
    }
    # The path, not where it leads: a worktree may link .venv to a shared environment.
    assert os.path.normpath(PROGRAM_DIR / ".." / ".venv") == str(PROGRAM_DIR.parent / ".venv")


# --- per-model settings (models.toml) ---------------------------------------------------------


def entry(name: str, path: str | None = None, settings=None, prod=None) -> ModelEntry:
    """A declared model: in model/ for iris (the primary), in models/<name> for the others."""
    path = path or ("model" if name == "iris" else f"models/{name}")
    return ModelEntry(name, path, settings=settings or {}, environments={"prod": prod or {}})


def model_problems(entries, cfg=VALID, stack="prod") -> list[str]:
    with pytest.raises(config.ConfigError) as raised:
        config.model_configs(cfg, entries, stack)
    return list(raised.value.problems)


def names_of(model) -> tuple[str, str, str]:
    return (model.settings.function_name, model.prefix, model.pin_key)


@pytest.mark.parametrize(
    "others", [[], ["wine"], ["wine", "cellar"], ["cellar", "wine"]], ids=["alone", "2", "3", "3r"]
)
def test_the_primary_model_keeps_the_stacks_names_whatever_else_is_declared(others):
    # The model in model/ is served at the stack's own function name, pin and resource names
    declared = [
        *(entry(name) for name in others[:1]),
        entry("iris"),
        *(entry(n) for n in others[1:]),
    ]
    iris = next(m for m in config.model_configs(VALID, declared, "prod") if m.name == "iris")
    assert names_of(iris) == ("sklearn-inference", "", "sourceObject")
    assert iris.primary and iris.artifacts == VALID.source_root / "model" / "artifacts"


@pytest.mark.parametrize("others", [[], ["iris"], ["iris", "cellar"]], ids=["alone", "2", "3"])
def test_any_other_model_is_named_after_itself_whatever_else_is_declared(others):
    pins = {"wine": f"sklearn-inference-wine/source-{'c' * 64}.zip"}
    cfg = dataclasses.replace(VALID, source_objects=pins)
    declared = [entry("wine"), *(entry(name) for name in others)]
    wine = config.model_configs(cfg, declared, "dev")[0]
    assert names_of(wine) == ("sklearn-inference-wine", "wine-", "sourceObjects.wine")
    assert (wine.primary, wine.settings.source_object) == (False, pins["wine"])
    assert wine.artifacts == VALID.source_root / "models" / "wine" / "artifacts"


def test_model_overrides_apply_per_environment_and_other_clouds_keys_are_ignored():
    wine = entry(
        "wine",
        settings={
            "memory_mb": 4096,
            "cpu": 2,
            "alarm_latency_p99_ms": 1500,
            "architecture": "x86_64",
        },
        prod={"min_instances": 2},
    )
    [dev] = config.model_configs(VALID, [wine], "dev")
    [prod] = config.model_configs(VALID, [wine], "prod")
    assert (dev.settings.memory, dev.settings.cpu, dev.settings.alert_latency_p99_ms) == (
        "4096Mi",  # memory_mb sizes the function on both clouds
        "2",  # cpu = 2 in TOML is the string Cloud Run takes
        1500,
    )
    assert (dev.settings.min_instances, prod.settings.min_instances) == (1, 2)


WINE = "models.toml [models.wine] (stack prod): "


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        (
            {"cpu": 0.5},
            "the stack's concurrency 8 needs cpu >= 1 (fractional CPU serves one request at a time); set cpu to 1 or the stack's concurrency to 1",
        ),
        ({"memory_mb": "2Gi"}, "memory_mb must be a whole number, got '2Gi'"),
        ({"memory_mb": 64}, "memory_mb must be 128Mi-32Gi (128-32768 MiB), got 64Mi"),
        ({"memory_mb": 6144}, "memory_mb above 4Gi needs the stack's cpu >= 2"),
        ({"memory_mb": 1024, "cpu": 4}, "cpu 4 needs memory_mb >= 2Gi"),
        ({"min_instances": "2"}, "min_instances must be a whole number, got '2'"),
        (
            {"min_instances": 30},
            "need 0 <= min_instances <= the stack's maxInstances, got 30 and 10",
        ),
        ({"max_batch_rows": True}, "max_batch_rows must be a whole number, got True"),
        (
            {"model_backend": "tensorflow"},
            "model_backend must be one of auto, onnx, joblib, got 'tensorflow'",
        ),
        ({"alarm_server_errors": 0}, "alarm_server_errors must be at least 1, got 0"),
        ({"timeout_seconds": 7200}, "timeout_seconds must be 1-3600, got 7200"),
    ],
)
def test_invalid_model_settings_are_one_line_naming_the_file_model_and_key(settings, problem):
    assert model_problems([entry("iris"), entry("wine", settings=settings)]) == [WINE + problem]


def test_every_models_problems_are_reported_at_once():
    problems = model_problems(
        [entry("iris", settings={"cpu": 3}), entry("wine", settings={"memory_mb": 1})]
    )
    assert problems == [
        "models.toml [models.iris] (stack prod): cpu above 1 must be 2, 4, 6 or 8, got 3",
        WINE + "memory_mb must be 128Mi-32Gi (128-32768 MiB), got 1Mi",
    ]


def test_a_model_function_name_must_be_a_cloud_run_service_name():
    # models.toml names are short today (model/catalog.py), but the service name is what breaks
    long_name = "m" * 50  # sklearn-inference-mmm...: 68 characters
    [problem] = model_problems([entry("iris"), entry(long_name)])
    assert "is not a Cloud Run service name (1-63" in problem


@pytest.mark.parametrize(
    ("changes", "entries", "problem"),
    [
        (
            {"source_objects": {"iris": f"sklearn-inference/source-{'a' * 64}.zip"}},
            ["iris", "wine"],
            "sourceObjects.iris: iris is the model in model/, pinned by sourceObject: run "
            "`pulumi config rm --path sourceObjects.iris` and pin it with sourceObject",
        ),
        (
            {"source_objects": {"beer": f"sklearn-inference-beer/source-{'a' * 64}.zip"}},
            ["iris", "wine"],
            "sourceObjects.beer: models.toml declares no model 'beer' (declared: iris, wine)",
        ),
        (
            {"source_object": f"sklearn-inference/source-{'a' * 64}.zip"},
            ["wine"],
            "sourceObject pins the model in model/, which models.toml does not declare: pin a "
            "model with `pulumi config set --path sourceObjects.<model> <bundle>`, or run "
            "`pulumi config rm sourceObject`",
        ),
        (
            {"source_objects": {"wine": f"sklearn-inference/source-{'a' * 64}.zip"}},
            ["iris", "wine"],
            "sourceObjects.wine must name a bundle of this function, "
            f"sklearn-inference-wine/source-<sha256>.zip, got 'sklearn-inference/source-{'a' * 64}.zip'",
        ),
    ],
)
def test_pins_must_fit_the_models_they_pin(changes, entries, problem):
    cfg = dataclasses.replace(VALID, **changes)
    assert model_problems([entry(name) for name in entries], cfg) == [
        f"Pulumi.prod.yaml: {problem}"
    ]


def test_the_primarys_pin_and_another_models_are_accepted_together():
    pins = {"wine": f"sklearn-inference-wine/source-{'b' * 64}.zip"}
    cfg = dataclasses.replace(
        VALID, source_object=f"sklearn-inference/source-{'a' * 64}.zip", source_objects=pins
    )
    iris, wine = config.model_configs(cfg, [entry("iris"), entry("wine")], "prod")
    assert (iris.settings.source_object, wine.settings.source_object) == (
        cfg.source_object,
        pins["wine"],
    )


def test_models_file_defaults_to_the_repository_and_the_source_root_follows_it(tmp_path):
    loaded = config.load("prod", FakeConfig({}), GCP)
    assert loaded.models_file == PROGRAM_DIR.parent / "models.toml"
    fork = config.load("prod", FakeConfig({"modelsFile": str(tmp_path / "models.toml")}), GCP)
    assert (fork.models_file, fork.source_root) == (tmp_path / "models.toml", tmp_path)
