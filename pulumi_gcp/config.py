"""Every setting of the GCP program, read from `pulumi.Config` once into a frozen dataclass.

Components never call `pulumi.Config`: `__main__.py` builds a `StackConfig` with `load()` and
hands each component the plain values it needs. `StackConfig.validate()` rejects combinations
Cloud Run would refuse at deploy time (minutes into `pulumi up`), so they fail in preview.

The models come from models.toml (model/catalog.py): `model_configs()` applies each model's
overrides to the stack's settings and validates the result the same way, naming the model.

This module imports nothing from the rest of the program, so tests can load it by file path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from model.catalog import ModelEntry

# Project-level namespace of every key below: `pulumi config set sklearn-inference-gcp:<key>`
# or, inside this project, just `pulumi config set <key>`.
PROJECT = "sklearn-inference-gcp"
PROGRAM_DIR = Path(__file__).resolve().parent

INGRESS_SETTINGS = ("ALLOW_ALL", "ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB")
MODEL_BACKENDS = ("auto", "onnx", "joblib")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# 2nd gen functions: Cloud Run service names are 1-63 characters; 24 keeps the derived
# service-account ids ("<name>-build", at most 30 characters) valid.
FUNCTION_NAME = re.compile(r"^[a-z](?:[a-z0-9-]{0,22}[a-z0-9])?$")
# Service-account ids (the part before @): 6-30 characters, a letter first, no trailing hyphen.
ACCOUNT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
ACCOUNT_SUFFIXES = {"runtime": "-run", "build": "-build"}
MEMORY = re.compile(r"^(\d+)(Mi|Gi)$")
MEMBER = re.compile(r"^(user|serviceAccount|group|domain|principal|principalSet):\S+$")
# A source bundle in the stack's bucket, as archive.object_name() names it.
BUNDLE = re.compile(r"^(?P<function>[a-z][a-z0-9-]*)/source-[0-9a-f]{64}\.zip$")
# A Cloud Run service name (a 2nd gen function's service carries the function's name): an RFC
# 1035 label, at most 63 characters. The per-model function names must be one.
SERVICE_NAME = re.compile(r"^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$")

MAX_TIMEOUT_SECONDS = 3600  # HTTP functions, 2nd gen
MAX_CONCURRENCY = 1000
# A canary is a minority share for a bounded time; more is a split, not a canary.
MAX_CANARY_PERCENT = 50
MAX_CANARY_MINUTES = 60

# The models.toml settings (model/catalog.py, PER_MODEL_SETTINGS) this program reads, and the
# StackConfig field each one overrides for that model; the others (memory_mb, ...) are AWS's.
MODEL_SETTINGS = {
    "min_instances": "min_instances",
    "max_instances": "max_instances",
    "memory": "memory",
    "cpu": "cpu",
    "concurrency": "concurrency",
    "timeout_seconds": "timeout_seconds",
    "max_batch_rows": "max_batch_rows",
    "max_body_bytes": "max_body_bytes",
    "model_backend": "model_backend",
    "alarm_server_errors": "alert_server_errors",
    "alarm_latency_p99_ms": "alert_latency_p99_ms",
}
TEXT_SETTINGS = {"memory", "model_backend"}  # the rest are whole numbers, except cpu


class ConfigError(ValueError):
    """When the stack configuration holds a value or combination Cloud Run would reject"""


@dataclass(frozen=True)
class StackConfig:
    """The stack's settings. Defaults are what `prod` should run with unless it says otherwise."""

    project: str
    region: str = "us-central1"
    function_name: str = "sklearn-inference"
    # Warm instances: the model loads at instance start, so 1 means no cold start for the
    # first caller. Idle instances are billed (docs/deploy-gcp.md, "What min instances cost").
    min_instances: int = 1
    max_instances: int = 10
    memory: str = "512Mi"
    # A whole vCPU: needed for concurrency above 1, and start-up (model load) runs faster.
    cpu: str = "1"
    concurrency: int = 8
    timeout_seconds: int = 30
    ingress: str = "ALLOW_ALL"
    # Who may call: `public` grants allUsers; otherwise only `invokers` (plus project owners
    # and editors, who hold run.routes.invoke already).
    public: bool = False
    invokers: tuple[str, ...] = ()
    enable_apis: bool = True
    # Pulumi refuses to delete or replace the function, source bucket and image repository.
    deletion_protection: bool = True
    # How long the function's first build waits for new IAM grants to reach Cloud Build.
    iam_propagation_seconds: int = 180
    alert_email: str | None = None
    alert_server_errors: int = 5
    alert_latency_p99_ms: int = 1000
    # A bundle stays this long after it last served or was a rollback target (after its upload,
    # if it never served): the release tool stamps it then (source_bundle.py).
    bundle_retention_days: int = 90
    # `make release-gcp`: the share of traffic the new revision gets, and for how long, before it
    # gets all of it (0: all at once, once it has passed its checks through its own URL).
    release_canary_percent: int = 10
    release_canary_minutes: int = 5
    # Serve this bundle of the stack's bucket instead of the working tree's: `make rollback-gcp`
    # sets it, `make release-gcp` removes it. With several models, `source_objects` pins them
    # one by one (model name -> bundle).
    source_object: str | None = None
    source_objects: Mapping[str, str] = field(default_factory=dict)
    model_backend: str = "auto"
    max_batch_rows: int = 1000
    # Unset: the handler derives the limit from the model's width and max_batch_rows
    # (CONTRACTS.md section 3); set it only to override that.
    max_body_bytes: int | None = None
    log_level: str = "INFO"
    # The models to deploy, one function each (model/catalog.py).
    models_file: Path = field(default=PROGRAM_DIR.parent / "models.toml")
    # The tree holding main.py, handler/ and each model's directory: modelsFile's directory
    # unless set (relative to pulumi_gcp/).
    source_root: Path = field(default=PROGRAM_DIR.parent)

    @property
    def account_ids(self) -> dict[str, str]:
        """The runtime and build service-account ids, derived from the function name."""
        return {who: f"{self.function_name}{suffix}" for who, suffix in ACCOUNT_SUFFIXES.items()}

    @property
    def memory_mib(self) -> int:
        match = MEMORY.match(self.memory)
        if match is None:
            raise ConfigError(f"memory must look like 512Mi or 2Gi, got {self.memory!r}")
        amount, unit = int(match.group(1)), match.group(2)
        return amount * (1024 if unit == "Gi" else 1)

    @property
    def cpu_count(self) -> float:
        try:
            return float(self.cpu)
        except ValueError:
            raise ConfigError(
                f"cpu must be a number such as 0.5, 1 or 2, got {self.cpu!r}"
            ) from None

    @property
    def handler_environment(self) -> dict[str, str]:
        """The variables handler/settings.py reads, plus gunicorn's thread count.

        MAX_BODY_BYTES is passed only when maxBodyBytes is set: otherwise the handler's own
        default (derived from the model) applies, the same on both clouds.

        functions-framework serves with gunicorn threads (default 4 per CPU); matching THREADS to
        the request concurrency keeps Cloud Run from routing requests an instance cannot start.
        """
        environment = {
            "MODEL_BACKEND": self.model_backend,
            "MAX_BATCH_ROWS": str(self.max_batch_rows),
            "LOG_LEVEL": self.log_level,
            "THREADS": str(self.concurrency),
        }
        if self.max_body_bytes is not None:
            environment["MAX_BODY_BYTES"] = str(self.max_body_bytes)
        return environment

    def validate(self) -> StackConfig:
        """Raise ConfigError naming every problem at once; return self when there is none."""
        problems = [*self._identity_problems(), *self._scaling_problems(), *self._other_problems()]
        if problems:
            raise ConfigError("invalid stack configuration:\n  - " + "\n  - ".join(problems))
        return self

    def _identity_problems(self) -> list[str]:
        problems = []
        if not FUNCTION_NAME.match(self.function_name):
            problems.append(
                "functionName must be up to 24 lowercase letters, digits and hyphens, "
                f"start with a letter and not end with a hyphen; got {self.function_name!r}"
            )
        else:
            problems += [
                f"functionName {self.function_name!r} makes the service-account id {account!r} "
                f"({len(account)} characters); account ids need 6-30, so use a functionName of "
                "at least 2 characters"
                for account in self.account_ids.values()
                if not ACCOUNT_ID.match(account)
            ]
        if self.public and self.invokers:
            problems.append(
                "set either public or invokers, not both: public already admits everyone"
            )
        problems += [
            f"invoker {member!r} must look like user:, serviceAccount:, group: or domain:..."
            for member in self.invokers
            if not MEMBER.match(member)
        ]
        problems += _colliding_invokers(self.invokers)
        if self.alert_email is not None and "@" not in self.alert_email:
            problems.append(f"alertEmail must be an e-mail address, got {self.alert_email!r}")
        return problems

    def _scaling_problems(self) -> list[str]:
        problems: list[str] = []
        try:
            memory, cpu = self.memory_mib, self.cpu_count
        except ConfigError as error:
            return [str(error)]
        if not 0 <= self.min_instances <= self.max_instances:
            problems.append(
                f"need 0 <= minInstances <= maxInstances, got {self.min_instances} and "
                f"{self.max_instances}"
            )
        if self.max_instances < 1:
            problems.append(f"maxInstances must be at least 1, got {self.max_instances}")
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            problems.append(f"concurrency must be 1-{MAX_CONCURRENCY}, got {self.concurrency}")
        problems += _cpu_memory_problems(cpu, memory, self.concurrency)
        return problems

    def model_problems(self, pin_key: str) -> list[str]:
        """What validate() checks that a model's overrides can change, with the pin named as
        `pin_key`; the function name as a Cloud Run service name."""
        problems = []
        if len(self.function_name) > 63 or not SERVICE_NAME.match(self.function_name):
            problems.append(
                f"function name {self.function_name!r} is not a Cloud Run service name (1-63 "
                "lowercase letters, digits and hyphens): shorten functionName or the model name"
            )
        return [*problems, *self._scaling_problems(), *self._other_problems(pin_key)]

    def _pin_problems(self, pin_key: str) -> list[str]:
        if self.source_object is None:
            return []
        bundle = BUNDLE.match(self.source_object)
        if bundle is not None and bundle.group("function") == self.function_name:
            return []
        return [
            f"{pin_key} must name a bundle of this function, "
            f"{self.function_name}/source-<sha256>.zip, got {self.source_object!r}"
        ]

    def _other_problems(self, pin_key: str = "sourceObject") -> list[str]:
        problems = self._pin_problems(pin_key)
        if self.iam_propagation_seconds < 0:
            problems.append(
                f"iamPropagationSeconds must be 0 or more, got {self.iam_propagation_seconds}"
            )
        if not 1 <= self.timeout_seconds <= MAX_TIMEOUT_SECONDS:
            problems.append(
                f"timeoutSeconds must be 1-{MAX_TIMEOUT_SECONDS}, got {self.timeout_seconds}"
            )
        if self.ingress not in INGRESS_SETTINGS:
            problems.append(f"ingress must be one of {', '.join(INGRESS_SETTINGS)}")
        if self.model_backend not in MODEL_BACKENDS:
            problems.append(f"modelBackend must be one of {', '.join(MODEL_BACKENDS)}")
        if self.log_level not in LOG_LEVELS:
            problems.append(f"logLevel must be one of {', '.join(LOG_LEVELS)}")
        at_least_one = {
            "maxBatchRows": self.max_batch_rows,
            "alertServerErrors": self.alert_server_errors,
            "alertLatencyP99Ms": self.alert_latency_p99_ms,
            "bundleRetentionDays": self.bundle_retention_days,
        }
        if not 0 <= self.release_canary_percent <= MAX_CANARY_PERCENT:
            problems.append(
                f"releaseCanaryPercent must be 0 (all at once) to {MAX_CANARY_PERCENT}, got "
                f"{self.release_canary_percent}"
            )
        if not 1 <= self.release_canary_minutes <= MAX_CANARY_MINUTES:
            problems.append(
                f"releaseCanaryMinutes must be 1-{MAX_CANARY_MINUTES}, got "
                f"{self.release_canary_minutes}"
            )
        if self.max_body_bytes is not None:
            at_least_one["maxBodyBytes"] = self.max_body_bytes
            # Cloud Run's request size limit is 32 MiB.
            if self.max_body_bytes > 32 * 1024 * 1024:
                problems.append(
                    "maxBodyBytes above 32 MiB can never arrive: Cloud Run rejects them"
                )
        problems += [
            f"{name} must be at least 1, got {value}"
            for name, value in at_least_one.items()
            if value < 1
        ]
        return problems


def member_slug(member: str) -> str:
    """The stable part of an invoker's resource name: `user:a@b.com` -> `user-a-b-com`."""
    return re.sub(r"[^a-z0-9]+", "-", member.lower()).strip("-")


def _colliding_invokers(members: tuple[str, ...]) -> list[str]:
    """Members whose resource names would clash (Pulumi would refuse a duplicate URN halfway
    through `up`): the same member twice, or members that differ only in case or punctuation."""
    by_slug: dict[str, list[str]] = {}
    for member in members:
        by_slug.setdefault(member_slug(member), []).append(member)
    return [
        f"invokers {' and '.join(repr(m) for m in same)} map to the same resource name "
        f"{slug!r}: list each member once; to admit principals that differ only in "
        "punctuation, grant one of them through a Google group"
        for slug, same in by_slug.items()
        if len(same) > 1
    ]


def _cpu_memory_problems(cpu: float, memory_mib: int, concurrency: int) -> list[str]:
    """Cloud Run's CPU/memory rules (cloud.google.com/run/docs/configuring/services/cpu and
    .../memory-limits), which 2nd gen functions inherit."""
    problems = []
    if not 128 <= memory_mib <= 32 * 1024:
        problems.append(f"memory must be 128Mi-32Gi, got {memory_mib}Mi")
    if cpu < 0.08 or cpu > 8:
        problems.append(f"cpu must be 0.08-8, got {cpu:g}")
        return problems
    if cpu > 1 and cpu not in (2, 4, 6, 8):
        problems.append(f"cpu above 1 must be 2, 4, 6 or 8, got {cpu:g}")
    if cpu < 1:
        if concurrency > 1:
            problems.append(
                f"concurrency {concurrency} needs cpu >= 1 (fractional CPU serves one request "
                "at a time); set cpu to 1 or concurrency to 1"
            )
        if memory_mib > 512 and cpu < 0.5:
            problems.append("memory above 512Mi needs cpu >= 0.5")
        if memory_mib > 1024:
            problems.append("memory above 1Gi needs cpu >= 1")
    for above_gib, min_cpu in ((4, 2), (8, 4), (16, 6), (24, 8)):
        if memory_mib > above_gib * 1024 and cpu < min_cpu:
            problems.append(f"memory above {above_gib}Gi needs cpu >= {min_cpu}")
    for min_cpu_for, min_memory_gib in ((4, 2), (6, 4), (8, 4)):
        if cpu >= min_cpu_for and memory_mib < min_memory_gib * 1024:
            problems.append(f"cpu {cpu:g} needs memory >= {min_memory_gib}Gi")
    return problems


@dataclass(frozen=True)
class ModelConfig:
    """One declared model as this stack deploys it."""

    name: str
    # The stack's settings with the model's overrides, its own function name and pin.
    settings: StackConfig
    artifacts: Path
    pin_key: str  # the config key that pins its bundle: sourceObject or sourceObjects.<name>
    # Prefix of its resource names: "" for a stack's only model, whose resources keep the names
    # (and URNs) they had before models.toml existed; "<name>-" with several.
    prefix: str


def model_configs(
    cfg: StackConfig, entries: Sequence[ModelEntry], stack: str
) -> tuple[ModelConfig, ...]:
    """Each declared model's settings: `cfg` plus the model's overrides for `stack` (models.toml),
    validated as the stack's own are. ConfigError names every problem and its model at once.

    One model keeps `cfg.function_name` and the pin `sourceObject`; with several, each gets the
    function `<functionName>-<model>` and the pin `sourceObjects.<model>`.
    """
    single = len(entries) == 1
    names = [entry.name for entry in entries]
    problems = _pin_key_problems(cfg, names)
    models = []
    for entry in entries:
        overrides, found = _model_overrides(entry.overrides(stack))
        settings = replace(
            cfg,
            **overrides,
            function_name=cfg.function_name if single else f"{cfg.function_name}-{entry.name}",
            source_object=cfg.source_object if single else cfg.source_objects.get(entry.name),
        )
        pin_key = "sourceObject" if single else f"sourceObjects.{entry.name}"
        found = found or settings.model_problems(pin_key)
        problems += [f"model {entry.name} (models.toml, stack {stack}): {p}" for p in found]
        models.append(
            ModelConfig(
                name=entry.name,
                settings=settings,
                artifacts=cfg.source_root / entry.path / "artifacts",
                pin_key=pin_key,
                prefix="" if single else f"{entry.name}-",
            )
        )
    if problems:
        raise ConfigError("invalid model settings:\n  - " + "\n  - ".join(problems))
    return tuple(models)


def _model_overrides(values: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The StackConfig fields a model's models.toml settings override, and type problems."""
    overrides: dict[str, Any] = {}
    problems = []
    for key, value in values.items():
        if key not in MODEL_SETTINGS:
            continue  # another cloud's setting
        if key == "cpu" and isinstance(value, (int, float)) and not isinstance(value, bool):
            value = f"{value:g}"  # cpu = 2 in TOML means the string Cloud Run takes, "2"
        expected = str if key in TEXT_SETTINGS or key == "cpu" else int
        if not isinstance(value, expected) or isinstance(value, bool):
            kind = "a string" if expected is str else "a whole number"
            problems.append(f"{key} must be {kind}, got {value!r}")
            continue
        overrides[MODEL_SETTINGS[key]] = value
    return overrides, problems


def _pin_key_problems(cfg: StackConfig, names: list[str]) -> list[str]:
    """`sourceObject` pins a stack's only model, `sourceObjects.<model>` one of several."""
    if len(names) == 1:
        if cfg.source_objects:
            return [
                f"sourceObjects pins models of a stack serving several; this one serves "
                f"{names[0]} only: pin it with sourceObject"
            ]
        return []
    problems = []
    if cfg.source_object is not None:
        problems.append(
            f"sourceObject pins the bundle of a stack's only model, but models.toml declares "
            f"{', '.join(names)}: pin one with `pulumi config set --path sourceObjects.<model> "
            "<bundle>`, or run `pulumi config rm sourceObject`"
        )
    problems += [
        f"sourceObjects.{name}: models.toml declares no model {name!r} "
        f"(declared: {', '.join(names)})"
        for name in cfg.source_objects
        if name not in names
    ]
    return problems


def load(stack: str, config: Any, gcp_config: Any) -> StackConfig:
    """Build the StackConfig from `pulumi.Config()` and `pulumi.Config("gcp")`.

    Takes the config objects as arguments so tests can pass fakes; only `__main__.py` calls it.
    """
    project = gcp_config.get("project")
    if not project:
        raise ConfigError("gcp:project is not set: run `pulumi config set gcp:project <id>`")
    defaults = StackConfig(project=project)
    source_root = config.get("sourceRoot")
    models_file = config.get("modelsFile")
    models_path = (PROGRAM_DIR / models_file).resolve() if models_file else defaults.models_file
    invokers = config.get_object("invokers") or []
    if not isinstance(invokers, list) or not all(isinstance(m, str) for m in invokers):
        raise ConfigError("invokers must be a list of member strings")
    pins = config.get_object("sourceObjects") or {}
    if not isinstance(pins, dict) or not all(isinstance(v, str) for v in pins.values()):
        raise ConfigError("sourceObjects must map model names to bundles of the stack's bucket")

    def get_int(key: str, default: int) -> int:
        value = config.get_int(key)
        return default if value is None else value

    def get_bool(key: str, default: bool) -> bool:
        value = config.get_bool(key)
        return default if value is None else value

    return StackConfig(
        project=project,
        region=gcp_config.get("region") or defaults.region,
        function_name=config.get("functionName") or f"{defaults.function_name}-{stack}",
        min_instances=get_int("minInstances", defaults.min_instances),
        max_instances=get_int("maxInstances", defaults.max_instances),
        memory=config.get("memory") or defaults.memory,
        cpu=config.get("cpu") or defaults.cpu,
        concurrency=get_int("concurrency", defaults.concurrency),
        timeout_seconds=get_int("timeoutSeconds", defaults.timeout_seconds),
        ingress=config.get("ingress") or defaults.ingress,
        public=get_bool("public", defaults.public),
        invokers=tuple(invokers),
        enable_apis=get_bool("enableApis", defaults.enable_apis),
        deletion_protection=get_bool("deletionProtection", defaults.deletion_protection),
        iam_propagation_seconds=get_int("iamPropagationSeconds", defaults.iam_propagation_seconds),
        alert_email=config.get("alertEmail") or None,
        alert_server_errors=get_int("alertServerErrors", defaults.alert_server_errors),
        alert_latency_p99_ms=get_int("alertLatencyP99Ms", defaults.alert_latency_p99_ms),
        bundle_retention_days=get_int("bundleRetentionDays", defaults.bundle_retention_days),
        release_canary_percent=get_int("releaseCanaryPercent", defaults.release_canary_percent),
        release_canary_minutes=get_int("releaseCanaryMinutes", defaults.release_canary_minutes),
        source_object=config.get("sourceObject") or None,
        source_objects={name: bundle for name, bundle in pins.items() if bundle},
        model_backend=config.get("modelBackend") or defaults.model_backend,
        max_batch_rows=get_int("maxBatchRows", defaults.max_batch_rows),
        max_body_bytes=config.get_int("maxBodyBytes"),
        log_level=(config.get("logLevel") or defaults.log_level).upper(),
        models_file=models_path,
        source_root=(PROGRAM_DIR / source_root).resolve() if source_root else models_path.parent,
    ).validate()
