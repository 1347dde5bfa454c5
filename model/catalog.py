"""The models this repository serves: `models.toml`, read once by the CDK app, the Pulumi
program, `make train` and the post-deploy tools.

    [models.iris]
    path = "model"               # its directory: train.py (a ModelSpec named SPEC), artifacts/

    [models.wine]
    path = "models/wine"
    source = "store"             # served from the model store, not the image (default "image")
    memory_mb = 2048             # a per-model setting overrides the environment's value...
    [models.wine.prod]
    provisioned_concurrency = 2  # ...or only one environment's

    python -m model.catalog train [NAME ...]   # train every declared model, or those named
    python -m model.catalog ensure             # train only those with no manifest yet
    python -m model.catalog list               # name, directory and served backend of each
    python -m model.catalog artifacts NAME     # its artifacts directory (standard library only)

How a model is named on the clouds depends on that model alone, never on which or how many
others are declared, so adding, removing or reordering models never renames or moves another:

- the model in `model/` (path = "model") is the stack's primary model: it is served at the
  stack's own names and routes (AWS: `/predict`, `/health`, construct ids and outputs without a
  prefix, alarms `<stack>-errors`; GCP: the function `<functionName>` and its URL);
- a model in `models/<directory>` is served at its own name (AWS: `/models/<name>/predict`,
  `WineInference`, `WineFunctionName`, `<stack>-wine-errors`; GCP: `<functionName>-<name>`).

A model may override the settings in PER_MODEL_SETTINGS; each cloud reads those it knows
(named as in stacks/settings.py on AWS) and validates the values itself.

`source` says where a deployment's instances get the model: "image" (the default) ships its
artifacts inside the container image or source bundle; "store" ships the handler and runtime
only, and the instances load the version the model store's pointer named when the deployment
was made (handler/store.py, docs/operate.md "Model store"). It is the model's, in every
environment.
"""

from __future__ import annotations

import difflib
import importlib.util
import re
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILE = REPO_ROOT / "models.toml"
ENVIRONMENTS = ("dev", "prod")
# A route segment, a CDK construct id and part of a Cloud Run service name: keep it plain.
NAME = re.compile(r"^[a-z][a-z0-9]{0,15}$")
# Where a model's directory may live: the Docker build context allow-lists exactly these.
PATH = re.compile(r"^(model|models/[a-z][a-z0-9_]*)$")
# The directory of the stack's primary model (see above).
PRIMARY_PATH = "model"
SOURCES = ("image", "store")
# A model outside model/ carries its name in front of its alarms' concerns (`<stack>-wine-errors`)
# while the primary model's have none (`<stack>-errors`, `<stack>-server-errors`,
# `<stack>-release-...`, the stack's `<stack>-api-5xx`): a model named like the first word of a
# concern would make one model's alarms read as another's.
RESERVED_NAMES = frozenset(
    {"api", "duration", "errors", "health", "pc", "release", "server", "throttles"}
)

PER_MODEL_SETTINGS = {
    # both clouds
    "max_batch_rows": "rows per request (MAX_BATCH_ROWS)",
    "max_body_bytes": "request body limit (MAX_BODY_BYTES); unset: derived from the model",
    "model_backend": "auto, onnx or joblib (MODEL_BACKEND)",
    "timeout_seconds": "request timeout",
    "alarm_server_errors": "handler 5xx responses in 5 minutes above which the alarm fires",
    "alarm_latency_p99_ms": "p99 latency (ms) above which the latency alarm fires",
    "memory_mb": "function memory in MB (AWS: also buys CPU; GCP: <memory_mb>Mi per instance)",
    # AWS
    "architecture": "arm64 or x86_64",
    "reserved_concurrency": "reserved concurrent executions",
    "provisioned_concurrency": "fixed provisioned environments on the live alias",
    "autoscaling_min": "provisioned concurrency autoscaling, lower bound",
    "autoscaling_max": "provisioned concurrency autoscaling, upper bound",
    "autoscaling_target": "provisioned concurrency utilization to track",
    "alarm_errors": "Lambda Errors in 5 minutes above which the alarm fires",
    "deployment_config": "how CodeDeploy shifts traffic to a new version",
    "pre_traffic_hook": "check the reference predictions before traffic shifts",
    "health_check_minutes": "scheduled health check interval; 0: none",
    "image_repository": "prebuilt image's ECR repository (instead of building it)",
    "image_tag": "prebuilt image's tag",
    "image_digest": "prebuilt image's digest, sha256:<64 hex>",
    # GCP
    "min_instances": "warm instances",
    "max_instances": "scaling ceiling",
    "cpu": "vCPU per instance",
    "concurrency": "requests one instance serves at once",
}

# Keys a model may no longer set, and the one that replaced each.
RETIRED_SETTINGS = {
    "memory": 'memory_mb (one key sizes the model on both clouds: memory = "2Gi" is '
    "memory_mb = 2048)",
}


class CatalogError(ValueError):
    """When models.toml declares no model, or one the deployment cannot serve"""


@dataclass(frozen=True)
class ModelEntry:
    """One declared model: its name, its directory, and the settings it overrides."""

    name: str
    path: str  # as declared, relative to the repository root
    root: Path = field(default=REPO_ROOT, compare=False)
    settings: Mapping[str, Any] = field(default_factory=dict)
    environments: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    source: str = "image"  # image | store (see above)

    @property
    def store(self) -> bool:
        """Whether its instances load it from the model store rather than their image."""
        return self.source == "store"

    @property
    def directory(self) -> Path:
        return self.root / self.path

    @property
    def artifacts(self) -> Path:
        return self.directory / "artifacts"

    @property
    def primary(self) -> bool:
        """Whether it is served at the stack's own names and routes (it lives in `model/`)."""
        return self.path == PRIMARY_PATH

    @property
    def title(self) -> str:
        """The model's name as a CDK construct id or output-name prefix: `wine` -> `Wine`."""
        return self.name.capitalize()

    def overrides(self, env_name: str) -> dict[str, Any]:
        """The settings this model overrides in environment `env_name`."""
        return {**self.settings, **self.environments.get(env_name, {})}


@dataclass(frozen=True)
class Catalog:
    models: tuple[ModelEntry, ...]

    @property
    def primary(self) -> ModelEntry | None:
        """The model in `model/`, if one is declared."""
        return next((entry for entry in self.models if entry.primary), None)

    def get(self, name: str) -> ModelEntry:
        for entry in self.models:
            if entry.name == name:
                return entry
        raise CatalogError(
            f"no model named {name!r} in models.toml; declared: "
            + ", ".join(e.name for e in self.models)
        )


def load(path: Path = DEFAULT_FILE) -> Catalog:
    """Read and check `path`; CatalogError names every problem at once."""
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise CatalogError(f"no model declaration at {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{path} is not valid TOML: {exc}") from None
    declared = raw.get("models")
    if not isinstance(declared, dict) or not declared:
        raise CatalogError(f"{path} declares no model: add a [models.<name>] table")
    root = path.resolve().parent
    problems: list[str] = []
    entries = [_entry(name, table, root, problems) for name, table in declared.items()]
    paths = [entry.path for entry in entries if entry.path]
    problems += [
        f"{', '.join(f'[models.{e.name}]' for e in entries if e.path == shared)} share the "
        f"directory {shared}: each model needs one of its own"
        for shared in sorted({p for p in paths if paths.count(p) > 1})
    ]
    if problems:
        raise CatalogError("\n".join(f"{path.name}: {problem}" for problem in problems))
    return Catalog(tuple(entries))


def _entry(name: str, table: Any, root: Path, problems: list[str]) -> ModelEntry:
    where = f"[models.{name}]"
    if not NAME.match(name):
        problems.append(f"{where}: a model name is 1-16 lowercase letters and digits")
    elif name in RESERVED_NAMES:
        problems.append(
            f"{where}: {name!r} names an alarm of the stack's own; choose another name (not "
            + ", ".join(sorted(RESERVED_NAMES))
            + ")"
        )
    if not isinstance(table, dict):
        problems.append(f"{where} must be a table")
        return ModelEntry(name, "")
    table = dict(table)
    model_path = table.pop("path", None)
    if not isinstance(model_path, str) or not PATH.match(model_path):
        problems.append(
            f'{where}: path must be "model" or "models/<directory>", got {model_path!r}'
        )
        model_path = ""
    elif not (root / model_path / "train.py").is_file():
        problems.append(f"{where}: {model_path}/train.py does not exist")
    source = table.pop("source", "image")
    if source not in SOURCES:
        problems.append(f'{where}: source must be "image" or "store", got {source!r}')
        source = "image"
    environments = {env: table.pop(env) for env in ENVIRONMENTS if isinstance(table.get(env), dict)}
    problems += [
        f"[models.{name}.{env}]: source is the model's, the same in every environment: set it "
        f"in {where}"
        for env, values in environments.items()
        if "source" in values
    ]
    environments = {
        env: {k: v for k, v in values.items() if k != "source"}
        for env, values in environments.items()
    }
    for scope, values in (("", table), *((f".{e}", v) for e, v in environments.items())):
        for key in sorted(set(values) - set(PER_MODEL_SETTINGS)):
            if key in RETIRED_SETTINGS:
                problems.append(
                    f"[models.{name}{scope}]: {key} is no longer a setting: use "
                    + RETIRED_SETTINGS[key]
                )
                continue
            close = difflib.get_close_matches(key, PER_MODEL_SETTINGS, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            problems.append(
                f"[models.{name}{scope}]: unknown setting {key}; {hint}a model may set "
                + ", ".join(PER_MODEL_SETTINGS)
            )
    return ModelEntry(name, model_path, root, table, environments, source)


def load_spec(entry: ModelEntry) -> Any:
    """The ModelSpec (`SPEC`) that the model directory's train.py defines."""
    module_name = f"_model_{entry.name}_train"
    spec = importlib.util.spec_from_file_location(module_name, entry.directory / "train.py")
    if spec is None or spec.loader is None:
        raise CatalogError(f"cannot load {entry.directory / 'train.py'}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    if not hasattr(module, "SPEC"):
        raise CatalogError(f"{entry.path}/train.py defines no SPEC (a model.pipeline.ModelSpec)")
    return module.SPEC


def main(argv: list[str]) -> int:
    from handler.manifest import Manifest, ManifestError, served_backend

    command, names = (argv[0], argv[1:]) if argv else ("list", [])
    try:
        catalog = load()
        entries = [catalog.get(n) for n in names] if names else list(catalog.models)
        if command in ("train", "ensure"):
            from model import pipeline

            if command == "ensure":
                entries = [e for e in entries if not (e.artifacts / "manifest.json").is_file()]
            for entry in entries:
                status = pipeline.main(load_spec(entry), entry.artifacts, [])
                if status:
                    return status
        elif command == "artifacts":  # where `make serve MODEL=<name>` loads the model from
            for entry in entries:
                print(entry.artifacts.relative_to(REPO_ROOT))
        elif command == "list":
            for entry in entries:
                try:
                    backend = served_backend(Manifest.load(entry.artifacts).raw)
                except ManifestError:
                    backend = "not trained"
                print(f"{entry.name:16} {entry.path:24} {backend:12} {entry.source}")
        else:
            raise CatalogError(
                "usage: python -m model.catalog {train,ensure,list,artifacts} [NAME ...]"
            )
    except CatalogError as exc:
        print(f"model.catalog: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
