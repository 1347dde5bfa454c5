"""Every setting of the GCP program, read from the stack's config once into a frozen dataclass.

Components never call `pulumi.Config`: `__main__.py` builds a `StackConfig` with `load()` and
hands each component the plain values it needs. `StackConfig.validate()` rejects combinations
Cloud Run would refuse at deploy time (minutes into `pulumi up`), so they fail in preview.

The models come from models.toml (model/catalog.py): `model_configs()` applies each model's
overrides to the stack's settings and validates the result the same way, naming the model.

Every problem is one line naming its file and key (`Pulumi.prod.yaml: memory must ...`,
`models.toml [models.wine] (stack prod): memory_mb ...`); ConfigError carries them all at once.

The keys live in the namespace of the Pulumi project, whose name (`name:` in Pulumi.yaml) a fork
may change: the program takes it from Pulumi (`pulumi.get_project()`), never from here.

This module imports nothing from the rest of the program, so tests can load it by file path.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from model.catalog import ModelEntry

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
WHOLE_NUMBER = re.compile(r"^-?\d+$")
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
# StackConfig field each one overrides for that model; the others (architecture, ...) are AWS's.
# memory_mb sizes the model's function on both clouds: here it becomes `<memory_mb>Mi`.
MODEL_SETTINGS = {
    "min_instances": "min_instances",
    "max_instances": "max_instances",
    "memory_mb": "memory",
    "cpu": "cpu",
    "concurrency": "concurrency",
    "timeout_seconds": "timeout_seconds",
    "max_batch_rows": "max_batch_rows",
    "max_body_bytes": "max_body_bytes",
    "model_backend": "model_backend",
    "alarm_server_errors": "alert_server_errors",
    "alarm_latency_p99_ms": "alert_latency_p99_ms",
}
TEXT_SETTINGS = {"model_backend"}  # the rest are whole numbers, except cpu

# How a problem names a StackConfig field: its config key, or for a model its models.toml key.
KeyName = Callable[[str], str]


class ConfigError(ValueError):
    """When the stack's config or a model's settings hold a value Cloud Run would reject, or a
    key the program does not know: one line per problem, each naming its file and key"""

    def __init__(self, problems: Sequence[str]):
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


def camel(name: str) -> str:
    """A StackConfig field's config key: `min_instances` -> `minInstances`."""
    first, *rest = name.split("_")
    return first + "".join(word.title() for word in rest)


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
    # sets it, `make release-gcp` removes it. It pins the primary model (the one in model/);
    # `source_objects` pins the others, one by one (model name -> bundle).
    source_object: str | None = None
    source_objects: Mapping[str, str] = field(default_factory=dict)
    # The model store's bucket, when a model is served from it (models.toml source = "store");
    # None: <project>-<functionName>-models (model_store.py).
    model_store_bucket: str | None = None
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
            raise ConfigError([f"memory must look like 512Mi or 2Gi, got {self.memory!r}"])
        amount, unit = int(match.group(1)), match.group(2)
        return amount * (1024 if unit == "Gi" else 1)

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

    def validate(self, where: str = "stack configuration") -> StackConfig:
        """Raise ConfigError naming every problem at once, each line starting with `where`
        (the stack's file); return self when there is none."""
        problems = [
            *self._identity_problems(),
            *self.pin_problems("sourceObject"),
            *self._scaling_problems(camel),
            *self._other_problems(camel),
        ]
        if problems:
            raise ConfigError([f"{where}: {problem}" for problem in problems])
        return self

    def model_problems(self, key: KeyName) -> list[str]:
        """What validate() checks that a model's overrides can change, with each field named by
        `key`; and the model's function name as a Cloud Run service name."""
        problems = []
        if len(self.function_name) > 63 or not SERVICE_NAME.match(self.function_name):
            problems.append(
                f"function name {self.function_name!r} is not a Cloud Run service name (1-63 "
                "lowercase letters, digits and hyphens): shorten functionName or the model name"
            )
        return [*problems, *self._scaling_problems(key), *self._other_problems(key)]

    def pin_problems(self, pin_key: str) -> list[str]:
        """Whether the pinned bundle, if any, is one of this function's (named `pin_key`)."""
        if self.source_object is None:
            return []
        bundle = BUNDLE.match(self.source_object)
        if bundle is not None and bundle.group("function") == self.function_name:
            return []
        return [
            f"{pin_key} must name a bundle of this function, "
            f"{self.function_name}/source-<sha256>.zip, got {self.source_object!r}"
        ]

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
        if self.ingress not in INGRESS_SETTINGS:
            problems.append(
                f"ingress must be one of {', '.join(INGRESS_SETTINGS)}, got {self.ingress!r}"
            )
        if self.log_level not in LOG_LEVELS:
            problems.append(
                f"logLevel must be one of {', '.join(LOG_LEVELS)}, got {self.log_level!r}"
            )
        if self.iam_propagation_seconds < 0:
            problems.append(
                f"iamPropagationSeconds must be 0 or more, got {self.iam_propagation_seconds}"
            )
        if self.bundle_retention_days < 1:
            problems.append(
                f"bundleRetentionDays must be at least 1, got {self.bundle_retention_days}"
            )
        return problems

    def _scaling_problems(self, key: KeyName) -> list[str]:
        problems: list[str] = []
        memory = MEMORY.match(self.memory)
        if memory is None:
            return [f"{key('memory')} must look like 512Mi or 2Gi, got {self.memory!r}"]
        try:
            cpu = float(self.cpu)
        except ValueError:
            return [f"{key('cpu')} must be a number such as 0.5, 1 or 2, got {self.cpu!r}"]
        minimum, maximum = key("min_instances"), key("max_instances")
        if not 0 <= self.min_instances <= self.max_instances:
            problems.append(
                f"need 0 <= {minimum} <= {maximum}, got {self.min_instances} and "
                f"{self.max_instances}"
            )
        if self.max_instances < 1:
            problems.append(f"{maximum} must be at least 1, got {self.max_instances}")
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            problems.append(
                f"{key('concurrency')} must be 1-{MAX_CONCURRENCY}, got {self.concurrency}"
            )
        return problems + _cpu_memory_problems(cpu, self.memory_mib, self.concurrency, key)

    def _other_problems(self, key: KeyName) -> list[str]:
        problems = []
        if not 1 <= self.timeout_seconds <= MAX_TIMEOUT_SECONDS:
            problems.append(
                f"{key('timeout_seconds')} must be 1-{MAX_TIMEOUT_SECONDS}, "
                f"got {self.timeout_seconds}"
            )
        if self.model_backend not in MODEL_BACKENDS:
            problems.append(
                f"{key('model_backend')} must be one of {', '.join(MODEL_BACKENDS)}, "
                f"got {self.model_backend!r}"
            )
        at_least_one = {
            "max_batch_rows": self.max_batch_rows,
            "alert_server_errors": self.alert_server_errors,
            "alert_latency_p99_ms": self.alert_latency_p99_ms,
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
            at_least_one["max_body_bytes"] = self.max_body_bytes
            # Cloud Run's request size limit is 32 MiB.
            if self.max_body_bytes > 32 * 1024 * 1024:
                problems.append(
                    f"{key('max_body_bytes')} above 32 MiB can never arrive: Cloud Run rejects them"
                )
        problems += [
            f"{key(name)} must be at least 1, got {value}"
            for name, value in at_least_one.items()
            if value < 1
        ]
        return problems


# The project-namespace config keys the program reads (gcp:project and gcp:region are the
# provider's): every StackConfig field, by its camelCase name.
KEYS = tuple(
    sorted(camel(f.name) for f in fields(StackConfig) if f.name not in ("project", "region"))
)


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


def _cpu_memory_problems(cpu: float, memory_mib: int, concurrency: int, key: KeyName) -> list[str]:
    """Cloud Run's CPU/memory rules (cloud.google.com/run/docs/configuring/services/cpu and
    .../memory-limits), which 2nd gen functions inherit."""
    problems = []
    memory, cpus = key("memory"), key("cpu")
    if not 128 <= memory_mib <= 32 * 1024:
        problems.append(f"{memory} must be 128Mi-32Gi (128-32768 MiB), got {memory_mib}Mi")
    if cpu < 0.08 or cpu > 8:
        problems.append(f"{cpus} must be 0.08-8, got {cpu:g}")
        return problems
    if cpu > 1 and cpu not in (2, 4, 6, 8):
        problems.append(f"{cpus} above 1 must be 2, 4, 6 or 8, got {cpu:g}")
    if cpu < 1:
        if concurrency > 1:
            problems.append(
                f"{key('concurrency')} {concurrency} needs {cpus} >= 1 (fractional CPU serves "
                f"one request at a time); set {cpus} to 1 or {key('concurrency')} to 1"
            )
        if memory_mib > 512 and cpu < 0.5:
            problems.append(f"{memory} above 512Mi needs {cpus} >= 0.5")
        if memory_mib > 1024:
            problems.append(f"{memory} above 1Gi needs {cpus} >= 1")
    for above_gib, min_cpu in ((4, 2), (8, 4), (16, 6), (24, 8)):
        if memory_mib > above_gib * 1024 and cpu < min_cpu:
            problems.append(f"{memory} above {above_gib}Gi needs {cpus} >= {min_cpu}")
    for min_cpu_for, min_memory_gib in ((4, 2), (6, 4), (8, 4)):
        if cpu >= min_cpu_for and memory_mib < min_memory_gib * 1024:
            problems.append(f"{cpus} {cpu:g} needs {memory} >= {min_memory_gib}Gi")
    return problems


@dataclass(frozen=True)
class ModelConfig:
    """One declared model as this stack deploys it."""

    name: str
    # The stack's settings with the model's overrides, its own function name and pin.
    settings: StackConfig
    artifacts: Path
    # The model in model/ (catalog.ModelEntry.primary): served at the stack's own names.
    primary: bool
    pin_key: str  # the config key that pins its bundle: sourceObject or sourceObjects.<name>
    # Prefix of its Pulumi resource names: "" for the primary model, "<name>-" for the others.
    prefix: str
    # Served from the model store (models.toml source = "store"), not from its bundle.
    store: bool = False


def model_configs(
    cfg: StackConfig, entries: Sequence[ModelEntry], stack: str
) -> tuple[ModelConfig, ...]:
    """Each declared model's settings: `cfg` plus the model's overrides for `stack` (models.toml),
    validated as the stack's own are. ConfigError names every problem and its model at once.

    How a model is named depends on that model alone (model/catalog.py), so adding, removing or
    reordering models never renames, moves or replaces another's resources: the primary model
    keeps the function `<functionName>`, the pin `sourceObject` and unprefixed resource names
    (the ones a stack of this one model has); any other model gets the function
    `<functionName>-<model>`, the pin `sourceObjects.<model>` and resources `<model>-...`.
    """
    models_file = cfg.models_file.name
    problems = [f"Pulumi.{stack}.yaml: {p}" for p in _pin_key_problems(cfg, entries)]
    models = []
    for entry in entries:
        where = f"{models_file} [models.{entry.name}] (stack {stack})"
        overrides, found = _model_overrides(entry.overrides(stack))
        primary = entry.primary
        settings = replace(
            cfg,
            **overrides,
            function_name=cfg.function_name if primary else f"{cfg.function_name}-{entry.name}",
            source_object=cfg.source_object if primary else cfg.source_objects.get(entry.name),
        )
        pin_key = "sourceObject" if primary else f"sourceObjects.{entry.name}"
        toml_keys = {MODEL_SETTINGS[k]: k for k in entry.overrides(stack) if k in MODEL_SETTINGS}

        def key(field_name: str, toml_keys: Mapping[str, str] = toml_keys) -> str:
            return toml_keys.get(field_name) or f"the stack's {camel(field_name)}"

        found = found or settings.model_problems(key)
        problems += [f"{where}: {problem}" for problem in found]
        if not primary:  # the primary's pin, sourceObject, is the stack's: checked by load()
            problems += [f"Pulumi.{stack}.yaml: {p}" for p in settings.pin_problems(pin_key)]
        models.append(
            ModelConfig(
                name=entry.name,
                settings=settings,
                artifacts=cfg.source_root / entry.path / "artifacts",
                primary=primary,
                pin_key=pin_key,
                prefix="" if primary else f"{entry.name}-",
                store=entry.store,
            )
        )
    if problems:
        raise ConfigError(problems)
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
        if key == "memory_mb":
            value = f"{value}Mi"
        overrides[MODEL_SETTINGS[key]] = value
    return overrides, problems


def _pin_key_problems(cfg: StackConfig, entries: Sequence[ModelEntry]) -> list[str]:
    """`sourceObject` pins the primary model, `sourceObjects.<model>` one of the others."""
    names = [entry.name for entry in entries]
    others = [entry.name for entry in entries if not entry.primary]
    primary = next((entry.name for entry in entries if entry.primary), None)
    problems = []
    if cfg.source_object is not None and primary is None:
        problems.append(
            "sourceObject pins the model in model/, which models.toml does not declare: pin "
            "a model with `pulumi config set --path sourceObjects.<model> <bundle>`, or run "
            "`pulumi config rm sourceObject`"
        )
    for name in cfg.source_objects:
        if name == primary:
            problems.append(
                f"sourceObjects.{name}: {name} is the model in model/, pinned by sourceObject: "
                f"run `pulumi config rm --path sourceObjects.{name}` and pin it with sourceObject"
            )
        elif name not in others:
            problems.append(
                f"sourceObjects.{name}: models.toml declares no model {name!r} "
                f"(declared: {', '.join(names)})"
            )
    return problems


def unknown_key_problems(keys: Collection[str], project: str) -> list[str]:
    """One problem per key of the project's namespace (`<project>:...`) that the program does not
    read: a typo would otherwise be ignored, and the default silently deployed."""
    problems = []
    for full_key in sorted(keys):
        namespace, _, key = full_key.partition(":")
        if namespace != project or key in KEYS:
            continue
        close = difflib.get_close_matches(key, KEYS, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        problems.append(
            f"{full_key} is not a setting of this program{hint}; it reads {', '.join(KEYS)}"
        )
    return problems


def load(stack: str, config: Any, gcp_config: Any, keys: Collection[str] = ()) -> StackConfig:
    """Build the StackConfig from `pulumi.Config()` and `pulumi.Config("gcp")` (anything with
    `name` and `get(key) -> str | None`), refusing any of `keys` (the stack's config keys) that
    the program does not read. ConfigError names every problem at once.

    Takes the config objects as arguments so tests can pass fakes; only `__main__.py` calls it.
    """
    where = f"Pulumi.{stack}.yaml"
    problems = unknown_key_problems(keys, config.name)
    defaults = StackConfig(project=gcp_config.get("project") or "")
    if not defaults.project:
        problems.append("gcp:project is not set: run `pulumi config set gcp:project <id>`")

    def whole(key: str, default: int) -> int:
        raw = config.get(key)
        if raw is None:
            return default
        if not WHOLE_NUMBER.match(raw.strip()):
            problems.append(f"{key} must be a whole number, got {raw!r}")
            return default
        return int(raw)

    def boolean(key: str, default: bool) -> bool:
        raw = config.get(key)
        if raw is None:
            return default
        if raw not in ("true", "false"):
            problems.append(f"{key} must be true or false, got {raw!r}")
            return default
        return raw == "true"

    def structured(key: str, kind: type, description: str) -> Any:
        raw = config.get(key)
        if raw is None:
            return kind()
        try:
            value = json.loads(raw)
        except ValueError:
            value = None
        if not isinstance(value, kind) or not all(
            isinstance(v, str) for v in (value.values() if isinstance(value, dict) else value)
        ):
            problems.append(f"{key} must be {description}, got {raw!r}")
            return kind()
        return value

    invokers = structured("invokers", list, 'a list of members such as ["user:a@example.com"]')
    pins = structured("sourceObjects", dict, "a map of model names to bundles of the bucket")
    models_file = config.get("modelsFile")
    models_path = (PROGRAM_DIR / models_file).resolve() if models_file else defaults.models_file
    source_root = config.get("sourceRoot")
    max_body_bytes = whole("maxBodyBytes", 0) if config.get("maxBodyBytes") is not None else None
    loaded = StackConfig(
        project=defaults.project,
        region=gcp_config.get("region") or defaults.region,
        function_name=config.get("functionName") or f"{defaults.function_name}-{stack}",
        min_instances=whole("minInstances", defaults.min_instances),
        max_instances=whole("maxInstances", defaults.max_instances),
        memory=config.get("memory") or defaults.memory,
        cpu=config.get("cpu") or defaults.cpu,
        concurrency=whole("concurrency", defaults.concurrency),
        timeout_seconds=whole("timeoutSeconds", defaults.timeout_seconds),
        ingress=config.get("ingress") or defaults.ingress,
        public=boolean("public", defaults.public),
        invokers=tuple(invokers),
        enable_apis=boolean("enableApis", defaults.enable_apis),
        deletion_protection=boolean("deletionProtection", defaults.deletion_protection),
        iam_propagation_seconds=whole("iamPropagationSeconds", defaults.iam_propagation_seconds),
        alert_email=config.get("alertEmail") or None,
        alert_server_errors=whole("alertServerErrors", defaults.alert_server_errors),
        alert_latency_p99_ms=whole("alertLatencyP99Ms", defaults.alert_latency_p99_ms),
        bundle_retention_days=whole("bundleRetentionDays", defaults.bundle_retention_days),
        release_canary_percent=whole("releaseCanaryPercent", defaults.release_canary_percent),
        release_canary_minutes=whole("releaseCanaryMinutes", defaults.release_canary_minutes),
        source_object=config.get("sourceObject") or None,
        source_objects={name: bundle for name, bundle in pins.items() if bundle},
        model_store_bucket=config.get("modelStoreBucket") or None,
        model_backend=config.get("modelBackend") or defaults.model_backend,
        max_batch_rows=whole("maxBatchRows", defaults.max_batch_rows),
        max_body_bytes=max_body_bytes,
        log_level=(config.get("logLevel") or defaults.log_level).upper(),
        models_file=models_path,
        source_root=(PROGRAM_DIR / source_root).resolve() if source_root else models_path.parent,
    )
    try:
        loaded.validate(where)
    except ConfigError as error:
        problems += [line.removeprefix(f"{where}: ") for line in error.problems]
    if problems:
        raise ConfigError([f"{where}: {problem}" for problem in problems])
    return loaded
