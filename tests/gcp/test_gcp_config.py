"""Stack configuration: defaults and the combinations Cloud Run would reject."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import yaml
from program_modules import PROGRAM_DIR, load

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


def test_readme_configuration_table_lists_every_key():
    readme = (PROGRAM_DIR.parent / "README.md").read_text()
    section = readme.split("## Deploy to GCP", 1)[1].split("### Configuration", 1)[1]
    table = section.split("\n### ", 1)[0]
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
    assert (PROGRAM_DIR / ".." / ".venv").resolve() == PROGRAM_DIR.parent / ".venv"
