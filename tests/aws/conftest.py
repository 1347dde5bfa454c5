"""Synthesize each AWS variant once per session, with exactly the context `cdk.json` gives the CLI.

A unit-test `App()` does not read cdk.json (aws-cdk #17553), so the fixture loads its `context`
block (feature flags included) and passes it explicitly; variants add `-c`-style string
overrides on top, the way the command line would.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# jsii prints a banner on every start under Node 20 (end-of-life); it is noise in test output.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from aws_cdk import App
from aws_cdk.assertions import Template

import app as cdk_entry
from stacks.settings import DeploySettings, build_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
CDK_CONTEXT: dict[str, Any] = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
# The golden reference in its documented format (model/artifacts/reference.json), pinned here so
# that the synthesized apps do not depend on the committed model.
REFERENCE = Path(__file__).resolve().parent / "fixtures" / "reference.json"


def build(app: App, environ: dict[str, str] | None = None) -> Any:
    """app.build, as `cdk synth` runs it, with the pinned reference for the Iris model."""
    return cdk_entry.build(app, environ=environ or {}, references={"iris": REFERENCE})


DIGEST = "sha256:" + "ab" * 32
# Every optional feature, switched on in two extra apps so each code path is synthesized once.
VARIANTS: dict[str, dict[str, str]] = {
    "dev": {"env": "dev"},
    "prod": {"env": "prod"},
    "dev-options": {
        "env": "dev",
        "architecture": "x86_64",
        "auth": "jwt",
        "jwt_issuer": "https://issuer.example.com/",
        "jwt_audiences": "inference-api,web",
        "cors_allowed_origins": "https://app.example.com,http://localhost:3000",
        "alarm_email": "oncall@example.com",
        "reserved_concurrency": "10",
        "provisioned_concurrency": "2",
        "tracing": "false",
        "image_repository": "inference",
        "image_digest": DIGEST,
        "deployment_config": "Canary10Percent10Minutes",
    },
    "prod-options": {
        "env": "prod",
        "cors_allowed_origins": "https://app.example.com",
        "max_body_bytes": "65536",
        "image_repository": "arn:aws:ecr:eu-west-1:123456789012:repository/team/inference",
        "image_tag": "v1.2.3",
        "deployment_config": "Linear10PercentEvery1Minute",
        "pre_traffic_hook": "false",
    },
}


@dataclass(frozen=True)
class Synthesized:
    """One synthesized app: its settings, CloudFormation template and cloud-assembly manifests."""

    name: str
    app: App
    settings: DeploySettings
    template: dict[str, Any]
    assets: dict[str, Any]
    artifact: dict[str, Any]  # the stack's entry in manifest.json
    outdir: Path

    @property
    def assertions(self) -> Template:
        return Template.from_json(self.template)

    def resources(self, type_: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.template["Resources"].items() if v["Type"] == type_}

    def only(self, type_: str) -> tuple[str, dict[str, Any]]:
        """The logical ID and properties of the single resource of `type_`."""
        found = self.resources(type_)
        assert len(found) == 1, f"expected one {type_}, found {sorted(found)}"
        ((logical_id, resource),) = found.items()
        return logical_id, resource.get("Properties", {})

    def function(self) -> tuple[str, dict[str, Any]]:
        """The inference function (the container image; the pre-traffic hook is a zip)."""
        (found,) = [
            (logical_id, resource["Properties"])
            for logical_id, resource in self.resources("AWS::Lambda::Function").items()
            if resource["Properties"].get("PackageType") == "Image"
        ]
        return found

    def policy_of(self, role_id: str) -> dict[str, Any]:
        """The one inline policy CDK attaches to a role (its DefaultPolicy)."""
        (found,) = [
            r["Properties"]
            for r in self.resources("AWS::IAM::Policy").values()
            if r["Properties"]["Roles"] == [{"Ref": role_id}]
        ]
        return found

    @staticmethod
    def rendered(value: Any) -> str:
        return rendered(value)

    def alarms(self) -> dict[str, dict[str, Any]]:
        """Every alarm by name; a name built from a token reads `...-v<LogicalId.Attribute>`."""
        return {
            rendered(r["Properties"]["AlarmName"]): r["Properties"]
            for r in self.resources("AWS::CloudWatch::Alarm").values()
        }

    def alarm(self, concern: str) -> dict[str, Any]:
        name = f"{self.settings.stack_name}-{concern}"
        assert name in self.alarms(), f"expected one alarm named {name}"
        return self.alarms()[name]


def rendered(value: Any) -> str:
    """A string, or an Fn::Join of strings and Ref/GetAtt, as text: refs read <Id> or <Id.Attr>."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return f"<{value['Ref']}>"
    if "Fn::GetAtt" in value:
        return "<" + ".".join(value["Fn::GetAtt"]) + ">"
    if "Fn::Sub" in value:
        return str(value["Fn::Sub"])
    separator, parts = value["Fn::Join"]
    return separator.join(rendered(part) for part in parts)


def synthesize(name: str, overrides: dict[str, str], outdir: Path) -> Synthesized:
    app = App(context={**CDK_CONTEXT, **overrides}, outdir=str(outdir))
    stack = build(app)
    assembly = app.synth()  # raises if cdk-nag reports an unacknowledged finding
    manifest = json.loads((outdir / "manifest.json").read_text())
    return Synthesized(
        name=name,
        app=app,
        settings=build_settings({**CDK_CONTEXT, **overrides}),
        template=assembly.get_stack_by_name(stack.stack_name).template,
        assets=json.loads((outdir / f"{stack.artifact_id}.assets.json").read_text()),
        artifact=manifest["artifacts"][stack.artifact_id],
        outdir=outdir,
    )


class _Apps:
    """Synthesizes a variant the first time a test asks for it, then serves it from memory."""

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        self._factory = factory
        self._done: dict[str, Synthesized] = {}

    def __getitem__(self, name: str) -> Synthesized:
        if name not in self._done:
            outdir = self._factory.mktemp(f"cdk-{name}")
            self._done[name] = synthesize(name, VARIANTS[name], outdir)
        return self._done[name]


@pytest.fixture(scope="session")
def build_app() -> Any:
    return build


@pytest.fixture(scope="session")
def context_of() -> Any:
    """cdk.json's context plus a variant's overrides, as the CLI would pass them."""
    return lambda name: {**CDK_CONTEXT, **VARIANTS[name]}


@pytest.fixture(scope="session")
def apps(tmp_path_factory: pytest.TempPathFactory) -> _Apps:
    return _Apps(tmp_path_factory)


@pytest.fixture(scope="session")
def dev(apps: _Apps) -> Synthesized:
    return apps["dev"]


@pytest.fixture(scope="session")
def prod(apps: _Apps) -> Synthesized:
    return apps["prod"]


@pytest.fixture(scope="session")
def options(apps: _Apps) -> Synthesized:
    return apps["dev-options"]


@pytest.fixture(scope="session")
def prod_options(apps: _Apps) -> Synthesized:
    return apps["prod-options"]


@pytest.fixture(scope="session")
def two_model_app(two_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """prod of a fork serving Iris and a random forest on wine (tests/conftest.py `two_models`):
    `-c models_file=<its models.toml>`, whose directory is every image's build context."""
    overrides = {"env": "prod", "models_file": str(two_models)}
    return synthesize("two-models", overrides, tmp_path_factory.mktemp("cdk-two-models"))


@pytest.fixture(params=list(VARIANTS), scope="session")
def every_app(request: pytest.FixtureRequest, apps: _Apps) -> Iterator[Synthesized]:
    yield apps[request.param]


# Snapshot masking: what legitimately changes when only the handler or the model changes.
_HASH = re.compile(r"[0-9a-f]{64}")
_VERSION_ID = re.compile(r"(CurrentVersion[0-9A-F]{8})[0-9a-f]{32}")


def masked(value: Any) -> Any:
    """The template with image/asset hashes and the version logical-ID suffix replaced."""
    if isinstance(value, dict):
        return {masked(k): masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    if isinstance(value, str):
        return _VERSION_ID.sub(r"\1<version-hash>", _HASH.sub("<asset-hash>", value))
    return value


@pytest.fixture(scope="session")
def mask() -> Any:
    return masked
