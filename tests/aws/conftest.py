"""Synthesize each AWS app once per session.

Two kinds of app, kept apart so that a fork's settings move only what they should:

- **live** apps (`live_dev`, `live_prod`): exactly what `cdk synth` builds from this repository's
  `cdk.json` and `models.toml`. Tests of them derive every expectation from the settings and
  models in force (`app.settings`, `app.models`): the snapshots, the "template carries the
  settings" tests, cdk-nag, cfn-lint and checkov.
- **own** apps (`dev`, `prod`, `options`, `prod_options`, the fork apps): settings and models of
  the test's own: cdk.json's CDK feature flags only (no `environments` block, no settings
  keys), a models.toml written by tests/conftest.py's `write_fork`, plus `-c`-style overrides.
  They pin upstream defaults and edge cases, whatever a fork's cdk.json says.

A unit-test `App()` does not read cdk.json (aws-cdk #17553), so contexts are passed explicitly.
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
from handler.store import Pointer, sha256_hex
from model import catalog
from model.catalog import Catalog
from stacks.settings import DeploySettings, build_settings
from tests.conftest import write_fork

REPO_ROOT = Path(__file__).resolve().parents[2]
CDK_CONTEXT: dict[str, Any] = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
# CDK's feature flags (`@aws-cdk/...`): how CDK renders, not a setting of this app.
FEATURE_FLAGS = {key: value for key, value in CDK_CONTEXT.items() if key.startswith("@")}
# The golden reference in its documented format (model/artifacts/reference.json), pinned here so
# that the synthesized apps do not depend on the committed model.
REFERENCE = Path(__file__).resolve().parent / "fixtures" / "reference.json"


def no_pointers(stack: str, names: Any) -> dict[str, None]:
    """A store that has promoted nothing yet: what the tests' apps read unless they say
    otherwise, so that no test ever reaches a real account for a store model's pointer."""
    return dict.fromkeys(names)


def build(app: App, environ: dict[str, str] | None = None, read_pointers: Any = None) -> Any:
    """app.build, as `cdk synth` runs it, with the pinned reference for the Iris model (and a
    store model's pointers from `read_pointers`, by default none promoted)."""
    return cdk_entry.build(
        app,
        environ=environ or {},
        references={"iris": REFERENCE},
        read_pointers=read_pointers or no_pointers,
    )


DIGEST = "sha256:" + "ab" * 32
# What `cdk synth -c env=<env>` builds from this repository's own files.
LIVE: dict[str, dict[str, str]] = {"live-dev": {"env": "dev"}, "live-prod": {"env": "prod"}}
# Upstream defaults, and every optional feature switched on in two extra apps so each code path
# is synthesized once; all serving the reference model alone (the `reference_fork` fixture).
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
    models: Catalog  # what it serves
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

    def functions(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """Each served model's inference function (logical ID, properties), by model name: the
        one without a ROUTE_PREFIX is the primary model's, any other's prefix names it."""
        primary = self.models.primary
        found = {}
        for logical_id, resource in self.resources("AWS::Lambda::Function").items():
            props = resource["Properties"]
            if props.get("PackageType") == "Image":
                prefix = props["Environment"]["Variables"].get("ROUTE_PREFIX")
                name = prefix.removeprefix("/models/") if prefix else getattr(primary, "name", "")
                found[name] = (logical_id, props)
        return found

    def aliases(self) -> dict[str, str]:
        """Each served model's `live` alias logical ID, by model name."""
        by_function = {fn_id: name for name, (fn_id, _) in self.functions().items()}
        return {
            by_function[alias["Properties"]["FunctionName"]["Ref"]]: alias_id
            for alias_id, alias in self.resources("AWS::Lambda::Alias").items()
        }

    def routes(self) -> dict[str, str]:
        """Each route key, and the logical ID of the alias its integration invokes."""
        integrations = self.resources("AWS::ApiGatewayV2::Integration")
        routed = {}
        for route in self.resources("AWS::ApiGatewayV2::Route").values():
            props = route["Properties"]
            integration = integrations[props["Target"]["Fn::Join"][1][1]["Ref"]]
            routed[props["RouteKey"]] = integration["Properties"]["IntegrationUri"]["Ref"]
        return routed

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


def synthesize(
    name: str, context: dict[str, Any], outdir: Path, read_pointers: Any = None
) -> Synthesized:
    app = App(context=context, outdir=str(outdir))
    stack = build(app, read_pointers=read_pointers)
    assembly = app.synth()  # raises if cdk-nag reports an unacknowledged finding
    manifest = json.loads((outdir / "manifest.json").read_text())
    models_file = context.get("models_file")
    return Synthesized(
        name=name,
        app=app,
        settings=build_settings(context),
        models=catalog.load(Path(models_file)) if models_file else catalog.load(),
        template=assembly.get_stack_by_name(stack.stack_name).template,
        assets=json.loads((outdir / f"{stack.artifact_id}.assets.json").read_text()),
        artifact=manifest["artifacts"][stack.artifact_id],
        outdir=outdir,
    )


class _Apps:
    """Synthesizes a variant the first time a test asks for it, then serves it from memory."""

    def __init__(self, factory: pytest.TempPathFactory, context_of: Any) -> None:
        self._factory = factory
        self._context_of = context_of
        self._done: dict[str, Synthesized] = {}

    def __getitem__(self, name: str) -> Synthesized:
        if name not in self._done:
            outdir = self._factory.mktemp(f"cdk-{name}")
            self._done[name] = synthesize(name, self._context_of(name), outdir)
        return self._done[name]


@pytest.fixture(scope="session")
def build_app() -> Any:
    return build


@pytest.fixture(scope="session")
def reference_fork(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """models.toml of a fork serving the reference model alone: what the own apps serve."""
    return write_fork(tmp_path_factory.mktemp("reference-fork"), ("iris",))


def own_context(models_file: Path, **overrides: str) -> dict[str, Any]:
    """An app of the test's own: CDK's feature flags, `models_file`, `-c`-style overrides."""
    return {**FEATURE_FLAGS, "models_file": str(models_file), **overrides}


@pytest.fixture(scope="session")
def context_of(reference_fork: Path) -> Any:
    """The context a variant synthesizes with, as the CLI would pass it."""

    def context(name: str) -> dict[str, Any]:
        if name in LIVE:
            return {**CDK_CONTEXT, **LIVE[name]}
        return own_context(reference_fork, **VARIANTS[name])

    return context


@pytest.fixture(scope="session")
def apps(tmp_path_factory: pytest.TempPathFactory, context_of: Any) -> _Apps:
    return _Apps(tmp_path_factory, context_of)


@pytest.fixture(scope="session")
def live_dev(apps: _Apps) -> Synthesized:
    return apps["live-dev"]


@pytest.fixture(scope="session")
def live_prod(apps: _Apps) -> Synthesized:
    return apps["live-prod"]


@pytest.fixture(params=list(LIVE), scope="session")
def live(request: pytest.FixtureRequest, apps: _Apps) -> Synthesized:
    """Each app `cdk synth` builds from this repository's files."""
    return apps[request.param]


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


def _fork_app(name: str, models_file: Path, factory: pytest.TempPathFactory) -> Synthesized:
    """prod, at upstream defaults, of a fork serving the models of `models_file`
    (tests/conftest.py's fork fixtures), whose directory is every image's build context."""
    return synthesize(name, own_context(models_file, env="prod"), factory.mktemp(f"cdk-{name}"))


@pytest.fixture(scope="session")
def two_model_app(two_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """A fork serving Iris (the primary model) and a random forest on wine."""
    return _fork_app("two-models", two_models, tmp_path_factory)


@pytest.fixture(scope="session")
def three_model_app(three_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The fork above plus `cellar`."""
    return _fork_app("three-models", three_models, tmp_path_factory)


@pytest.fixture(scope="session")
def wine_alone_app(wine_alone: Path, tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """A fork that removed the reference model: wine alone, no primary model."""
    return _fork_app("wine-alone", wine_alone, tmp_path_factory)


@pytest.fixture(params=[*VARIANTS, *LIVE], scope="session")
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


# --- a fork serving a model from the model store ----------------------------------------------


@pytest.fixture(scope="session")
def store_fork(two_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """models.toml of the two-model fork with wine served from the model store (source =
    "store") and the reference model from its image."""
    wine = two_models.parent / "models" / "wine" / "artifacts"
    declaration = write_fork(tmp_path_factory.mktemp("store-fork"), ("iris", "wine"), wine)
    text = declaration.read_text().replace(
        'path = "models/wine"\n', 'path = "models/wine"\nsource = "store"\n'
    )
    declaration.write_text(text)
    return declaration


def pointer_of(artifacts: Path) -> Pointer:
    """What `make promote` would point at for these artifacts."""
    manifest = artifacts / "manifest.json"
    return Pointer(json.loads(manifest.read_text())["version"], sha256_hex(manifest.read_bytes()))


@pytest.fixture(scope="session")
def store_pin(store_fork: Path) -> Pointer:
    return pointer_of(store_fork.parent / "models" / "wine" / "artifacts")


@pytest.fixture(scope="session")
def store_prod_app(
    store_fork: Path, store_pin: Pointer, tmp_path_factory: pytest.TempPathFactory
) -> Synthesized:
    """prod of the store fork, wine's pointer naming its committed version."""
    return synthesize(
        "store-prod",
        own_context(store_fork, env="prod"),
        tmp_path_factory.mktemp("cdk-store-prod"),
        read_pointers=lambda stack, names: {name: store_pin for name in names},
    )


@pytest.fixture(scope="session")
def store_dev_app(store_fork: Path, tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """dev of the store fork before any promotion: nothing to pin, wine served from its image."""
    return synthesize(
        "store-dev",
        own_context(store_fork, env="dev"),
        tmp_path_factory.mktemp("cdk-store-dev"),
        read_pointers=lambda stack, names: dict.fromkeys(names),
    )
