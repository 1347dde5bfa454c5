"""Every setting of the AWS deployment, in one frozen object built once by `app.py`.

Defaults live here, per environment (`ENV_DEFAULTS`), and are the values a production
deployment should run with; `cdk.json` (context key `environments`) and `-c key=value` on the
command line override them. Stacks and constructs receive a `DeploySettings` and never read
context or the process environment themselves.

This module imports nothing from aws_cdk, so it validates and tests in milliseconds.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ENVIRONMENTS = ("dev", "prod")
ARCHITECTURES = ("arm64", "x86_64")
AUTH_MODES = ("none", "jwt", "iam")
MODEL_BACKENDS = ("auto", "onnx", "joblib")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# CodeDeploy's predefined Lambda configurations (CodeDeployDefault.Lambda<name>).
DEPLOYMENT_CONFIGS = (
    "AllAtOnce",
    "Canary10Percent5Minutes",
    "Canary10Percent10Minutes",
    "Canary10Percent15Minutes",
    "Canary10Percent30Minutes",
    "Linear10PercentEvery1Minute",
    "Linear10PercentEvery2Minutes",
    "Linear10PercentEvery3Minutes",
    "Linear10PercentEvery10Minutes",
)
# CloudWatch Logs accepts only these retention periods (days).
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827)
# The HTTP API gives up on an integration after 29 s, so a longer function timeout only bills
# for work nobody receives.
MAX_TIMEOUT_SECONDS = 29
# Lambda's synchronous invoke payload limit: no request body larger than this reaches the handler.
MAX_INVOKE_BYTES = 6 * 1024 * 1024
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_QUALIFIER = re.compile(r"^[a-z0-9]{1,10}$")  # what `cdk bootstrap --qualifier` accepts
_KMS_KEY = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$")


class SettingsError(ValueError):
    """When context holds a setting the stack cannot deploy. One line per problem, each naming
    where the value came from (`cdk.json environments.prod`, `-c memory_mb=99`) when known."""

    def __init__(self, *problems: str) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class DeploySettings:
    """One environment's deployment. Field comments are the settings table of
    docs/deploy-aws.md."""

    env_name: str
    stack_name: str
    # Function
    architecture: str = "arm64"  # arm64 (cheaper per GB-s) or x86_64; the image is built to match
    memory_mb: int = 1024  # also buys CPU: 1769 MB is one full vCPU
    timeout_seconds: int = 10  # at most 29, the HTTP API's integration limit
    # Reserves and caps concurrent executions; None: unreserved. Prod reserves 20: the stage
    # admits 100 requests/s (burst 200) and this model answers in a few milliseconds, so even a
    # full stage needs a handful of environments (Little's law: 100/s x 20 ms = 2); 20 leaves
    # room for the autoscaled provisioned environments, a canary's on-demand share and slow
    # outliers, while a flood can take no more than 20 of the account's concurrency and no
    # other function can starve this one. Dev stays unreserved: a reservation comes out of the
    # account's unreserved pool, which new accounts (quota 10) cannot spare at all.
    reserved_concurrency: int | None = 20
    # Provisioned concurrency on the `live` alias has exactly one owner: either a fixed amount
    # (provisioned_concurrency, autoscaling unset) or the Application Auto Scaling target
    # (autoscaling_min/max), which starts at autoscaling_min and moves within the range.
    provisioned_concurrency: int = 0  # fixed pre-initialised environments; 0: none
    autoscaling_min: int | None = 1  # both set: scale provisioned concurrency on utilization
    autoscaling_max: int | None = 4
    autoscaling_target: float = 0.7  # provisioned-concurrency utilization to track
    tracing: bool = True  # X-Ray active tracing
    log_retention_days: int = 90  # function and API access logs
    retain_logs: bool = True  # keep log groups when the stack is destroyed
    # Keep the model store bucket (store models' versions and pointers) when the stack is
    # destroyed; otherwise the stack empties and deletes it. Only a store model brings one.
    retain_model_store: bool = True
    termination_protection: bool = True
    # The CDK bootstrap this environment deploys through (`cdk bootstrap --qualifier Q`); None:
    # cdk.json's @aws-cdk/core:bootstrapQualifier, else CDK's default. Dev and prod in one account
    # need one each, so that dev's CI role cannot reach prod's bootstrap (stacks/ci_access.py).
    bootstrap_qualifier: str | None = None
    # A customer-managed KMS key (ARN) that encrypts the bootstrap's assets bucket: the pre-traffic
    # hook may then decrypt its reference file with it. None: the bucket uses S3-managed keys.
    assets_kms_key_arn: str | None = None
    # Handler environment (handler/settings.py reads these)
    model_backend: str = "auto"
    max_batch_rows: int = 1000
    # None: MAX_BODY_BYTES is not set and the handler derives the limit from the model
    max_body_bytes: int | None = None
    log_level: str = "INFO"
    service_name: str = "sklearn-inference"  # POWERTOOLS_SERVICE_NAME, a metric dimension
    metrics_namespace: str = "SklearnInference"  # POWERTOOLS_METRICS_NAMESPACE (EMF metrics)
    # Image: built from ./Dockerfile unless a repository is given (then exactly one of tag/digest)
    image_repository: str | None = None  # ECR repository name or ARN, same region
    image_tag: str | None = None
    image_digest: str | None = None  # sha256:<64 hex>; preferred over a tag (immutable)
    # Built here: the Dockerfile's BASE_IMAGE, e.g. public.ecr.aws/lambda/python:3.12@sha256:...
    base_image: str | None = None  # None: the Dockerfile's default tag
    # HTTP API
    throttle_rate_limit: float = 100.0  # steady-state requests per second for the stage
    throttle_burst_limit: int = 200
    cors_allowed_origins: tuple[str, ...] = ()  # none: browsers on other origins are refused
    auth: str = "iam"  # iam (SigV4 callers) | jwt | none (public)
    jwt_issuer: str | None = None
    jwt_audiences: tuple[str, ...] = ()
    # Releasing: CodeDeploy moves `live` to each new version (docs/operate.md, "Releasing on AWS")
    deployment_config: str = "Canary10Percent5Minutes"  # one of DEPLOYMENT_CONFIGS
    pre_traffic_hook: bool = True  # check the reference predictions before any traffic shifts
    # Monitoring
    # Invoke `live` with {"healthcheck": true} every N minutes (1 to 5) and alarm when no
    # healthy answer arrives for 10 minutes, so an idle outage pages too; 0: no health check.
    health_check_minutes: int = 1
    alarm_errors: int = 5  # Lambda Errors (timeouts, crashes) in 5 minutes above which to page
    alarm_server_errors: int = 5  # the handler's own 5xx answers in 5 minutes, likewise
    # p99 duration (ms) above which the alarm pages and a release rolls back; under the timeout
    alarm_latency_p99_ms: int = 1000
    alarm_email: str | None = None  # subscribed to the alarm topic (confirm the e-mail AWS sends)
    tags: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        errors = list(_problems(self))
        if errors:
            raise SettingsError(*errors)

    @property
    def autoscaling(self) -> bool:
        return self.autoscaling_max is not None

    @property
    def warm(self) -> bool:
        """Whether the alias keeps provisioned (pre-initialised) environments at all."""
        return self.provisioned_concurrency > 0 or self.autoscaling

    @property
    def gradual_release(self) -> bool:
        """Whether CodeDeploy shifts traffic in steps, leaving time for alarms to judge."""
        return self.deployment_config != "AllAtOnce"

    @property
    def uses_prebuilt_image(self) -> bool:
        return self.image_repository is not None


# Only what differs from the dataclass defaults (which are the production values).
ENV_DEFAULTS: dict[str, dict[str, Any]] = {
    "dev": {
        "stack_name": "SklearnInference-dev",
        "reserved_concurrency": None,
        "auth": "none",
        "autoscaling_min": None,
        "autoscaling_max": None,
        "log_retention_days": 7,
        "retain_logs": False,
        "retain_model_store": False,
        "termination_protection": False,
        "throttle_rate_limit": 10.0,
        "throttle_burst_limit": 20,
        "health_check_minutes": 0,
        "deployment_config": "AllAtOnce",
    },
    "prod": {
        "stack_name": "SklearnInference-prod",
    },
}


def _problems(s: DeploySettings) -> typing.Iterator[str]:
    def one_of(name: str, value: object, allowed: tuple[object, ...]) -> typing.Iterator[str]:
        if value not in allowed:
            yield f"{name} must be one of {', '.join(map(str, allowed))}, got {value!r}"

    yield from one_of("architecture", s.architecture, ARCHITECTURES)
    yield from one_of("auth", s.auth, AUTH_MODES)
    yield from one_of("model_backend", s.model_backend, MODEL_BACKENDS)
    yield from one_of("log_level", s.log_level, LOG_LEVELS)
    yield from one_of("deployment_config", s.deployment_config, DEPLOYMENT_CONFIGS)
    yield from one_of("log_retention_days", s.log_retention_days, RETENTION_DAYS)
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,127}", s.stack_name):
        yield f"stack_name must be letters, digits and hyphens, got {s.stack_name!r}"
    if not 128 <= s.memory_mb <= 10240:
        yield f"memory_mb must be between 128 and 10240, got {s.memory_mb}"
    if not 1 <= s.timeout_seconds <= MAX_TIMEOUT_SECONDS:
        yield (
            f"timeout_seconds must be between 1 and {MAX_TIMEOUT_SECONDS} (the HTTP API's "
            f"integration limit), got {s.timeout_seconds}"
        )
    if s.reserved_concurrency is not None and s.reserved_concurrency < 1:
        yield f"reserved_concurrency must be at least 1 or unset, got {s.reserved_concurrency}"
    if s.provisioned_concurrency < 0:
        yield f"provisioned_concurrency must be 0 or more, got {s.provisioned_concurrency}"
    if s.reserved_concurrency is not None and s.provisioned_concurrency > s.reserved_concurrency:
        yield (
            f"provisioned_concurrency ({s.provisioned_concurrency}) cannot exceed "
            f"reserved_concurrency ({s.reserved_concurrency})"
        )
    yield from _autoscaling_problems(s)
    if s.max_batch_rows < 1:
        yield f"max_batch_rows must be at least 1, got {s.max_batch_rows}"
    if s.max_body_bytes is not None and not 1 <= s.max_body_bytes <= MAX_INVOKE_BYTES:
        yield (
            f"max_body_bytes must be between 1 and {MAX_INVOKE_BYTES} (Lambda's invoke payload "
            f"limit) or unset, got {s.max_body_bytes}"
        )
    if s.throttle_rate_limit <= 0 or s.throttle_burst_limit < 1:
        yield "throttle_rate_limit must be above 0 and throttle_burst_limit at least 1"
    for origin in s.cors_allowed_origins:
        if origin == "*" or not re.fullmatch(r"https?://[^/\s]+", origin):
            yield f"cors_allowed_origins takes scheme://host[:port] (no '*'), got {origin!r}"
    yield from _auth_problems(s)
    yield from _image_problems(s)
    if s.bootstrap_qualifier is not None and not _QUALIFIER.fullmatch(s.bootstrap_qualifier):
        yield f"bootstrap_qualifier must be 1 to 10 of a-z and 0-9, got {s.bootstrap_qualifier!r}"
    if s.assets_kms_key_arn is not None and not _KMS_KEY.fullmatch(s.assets_kms_key_arn):
        yield (
            "assets_kms_key_arn must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>), "
            f"got {s.assets_kms_key_arn!r}"
        )
    if not 0 <= s.health_check_minutes <= 5:
        yield f"health_check_minutes must be 0 (off) to 5, got {s.health_check_minutes}"
    for name in ("alarm_errors", "alarm_server_errors"):
        if getattr(s, name) < 0:
            yield f"{name} must be 0 (any one pages) or more, got {getattr(s, name)}"
    if not 1 <= s.alarm_latency_p99_ms < s.timeout_seconds * 1000:
        yield (
            f"alarm_latency_p99_ms must be from 1 to under the timeout ({s.timeout_seconds * 1000} "
            f"ms: a duration cannot exceed it), got {s.alarm_latency_p99_ms}"
        )
    if s.alarm_email is not None and not _EMAIL.fullmatch(s.alarm_email):
        yield f"alarm_email is not an e-mail address: {s.alarm_email!r}"


def _autoscaling_problems(s: DeploySettings) -> typing.Iterator[str]:
    if (s.autoscaling_min is None) != (s.autoscaling_max is None):
        yield "autoscaling_min and autoscaling_max are set together or not at all"
        return
    if s.autoscaling_min is None or s.autoscaling_max is None:
        return
    if not 1 <= s.autoscaling_min <= s.autoscaling_max:
        yield (
            f"autoscaling needs 1 <= autoscaling_min <= autoscaling_max, got "
            f"{s.autoscaling_min}..{s.autoscaling_max}"
        )
    if s.provisioned_concurrency:
        yield (
            f"provisioned_concurrency ({s.provisioned_concurrency}) and autoscaling_min/max "
            "would both own the alias's provisioned concurrency: for a fixed amount unset "
            "autoscaling (-c autoscaling_min=none -c autoscaling_max=none), to scale set "
            "provisioned_concurrency=0 (the scalable target starts at autoscaling_min)"
        )
    if s.reserved_concurrency is not None and s.autoscaling_max > s.reserved_concurrency:
        yield (
            f"autoscaling_max ({s.autoscaling_max}) cannot exceed reserved_concurrency "
            f"({s.reserved_concurrency}): Lambda never provisions more than the function may run; "
            "raise reserved_concurrency or lower autoscaling_max"
        )
    if not 0.1 <= s.autoscaling_target <= 0.9:
        yield f"autoscaling_target must be between 0.1 and 0.9, got {s.autoscaling_target}"


def _auth_problems(s: DeploySettings) -> typing.Iterator[str]:
    if s.auth == "jwt":
        if not s.jwt_issuer or not s.jwt_issuer.startswith("https://"):
            yield "auth=jwt needs jwt_issuer, an https:// URL"
        if not s.jwt_audiences:
            yield "auth=jwt needs at least one entry in jwt_audiences"
    elif s.jwt_issuer or s.jwt_audiences:
        yield f"jwt_issuer and jwt_audiences only apply with auth=jwt (auth is {s.auth!r})"


def _image_problems(s: DeploySettings) -> typing.Iterator[str]:
    if s.base_image is not None and s.image_repository is not None:
        yield "base_image applies to the image built here, not with image_repository"
    if s.image_repository is None:
        if s.image_tag or s.image_digest:
            yield "image_tag and image_digest need image_repository"
        return
    if (s.image_tag is None) == (s.image_digest is None):
        yield "image_repository needs exactly one of image_tag or image_digest"
    if s.image_digest is not None and not _DIGEST.fullmatch(s.image_digest):
        yield f"image_digest must look like sha256:<64 hex digits>, got {s.image_digest!r}"


# What one model may set for itself in models.toml (model/catalog.py lists every cloud's keys and
# refuses any other); the rest (auth, CORS, throttles, names, alarm e-mail, tags, log retention,
# termination protection) applies to the whole stack.
PER_MODEL = (
    "architecture",
    "memory_mb",
    "timeout_seconds",
    "reserved_concurrency",
    "provisioned_concurrency",
    "autoscaling_min",
    "autoscaling_max",
    "autoscaling_target",
    "model_backend",
    "max_batch_rows",
    "max_body_bytes",
    "deployment_config",
    "pre_traffic_hook",
    "health_check_minutes",
    "alarm_errors",
    "alarm_server_errors",
    "alarm_latency_p99_ms",
    # A prebuilt image holds one model: with several, each model names its own.
    "image_repository",
    "image_tag",
    "image_digest",
)


def for_model(settings: DeploySettings, model: str, overrides: Mapping[str, Any]) -> DeploySettings:
    """`settings` with what model `model` overrides for this environment (its catalog entry's
    `overrides(env)`), validated like every setting. Keys of other clouds are not read here."""
    hints = typing.get_type_hints(DeploySettings)
    try:
        values = {k: _convert(k, v, hints[k]) for k, v in overrides.items() if k in PER_MODEL}
        return dataclasses.replace(settings, **values)
    except SettingsError as exc:
        where = f"models.toml [models.{model}] ({settings.env_name})"
        raise SettingsError(*(f"{where}: {problem}" for problem in exc.problems)) from None


def build_settings(context: Mapping[str, Any]) -> DeploySettings:
    """The settings for `context["env"]` (default dev).

    Precedence, lowest first: dataclass defaults, `ENV_DEFAULTS[env]`, cdk.json's
    `environments.<env>` block, then top-level context keys named like a field (`-c memory_mb=2048`;
    strings from the command line are converted to the field's type).
    """
    env_name = str(context.get("env") or "dev")
    if env_name not in ENVIRONMENTS:
        raise SettingsError(
            f"-c env: env must be one of {', '.join(ENVIRONMENTS)}, got {env_name!r}"
        )

    fields = {f.name: f for f in dataclasses.fields(DeploySettings) if f.name != "env_name"}
    hints = typing.get_type_hints(DeploySettings)
    in_file = f"cdk.json environments.{env_name}"

    block = (context.get("environments") or {}).get(env_name) or {}
    if isinstance(block, str):
        block = json.loads(block)
    problems = [f"{in_file}: {_unknown(name, fields)}" for name in sorted(set(block) - set(fields))]
    # A context key one typo away from a setting (`-c memroy_mb=2048`) would be ignored silently;
    # any other key belongs to CDK or to another part of the app.
    problems += [
        f"-c {name}: {_unknown(name, fields)}"
        for name in sorted(context)
        if name not in fields and difflib.get_close_matches(name, fields, n=1, cutoff=0.85)
    ]
    if problems:
        raise SettingsError(*problems)

    values: dict[str, Any] = dict(ENV_DEFAULTS[env_name])
    source = dict.fromkeys(values, f"{env_name} default")
    values.update(block)
    source.update(dict.fromkeys(block, in_file))
    given = {name: context[name] for name in fields if name in context}
    values.update(given)
    source.update({name: f"-c {name}={given[name]}" for name in given})
    try:
        converted = {name: _convert(name, value, hints[name]) for name, value in values.items()}
        return DeploySettings(env_name=env_name, **converted)
    except SettingsError as exc:
        raise SettingsError(*(_located(p, source, fields) for p in exc.problems)) from None


def _unknown(name: str, fields: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(name, fields, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"{name} is not a setting{hint}; stacks/settings.py's DeploySettings lists them all"


def _located(problem: str, source: Mapping[str, str], fields: Mapping[str, Any]) -> str:
    """`problem` prefixed with where the first value it names came from, preferring a value
    someone set (cdk.json, -c) over a default it conflicts with."""
    named = [name for name in re.findall(r"[a-z][a-z0-9_]*", problem) if name in fields]
    given = [name for name in named if name in source and "default" not in source[name]]
    chosen = (given or [n for n in named if n in source] or [None])[0]
    return f"{source[chosen]}: {problem}" if chosen else problem


def _convert(name: str, value: Any, hint: Any) -> Any:
    """Context from cdk.json arrives typed; from `-c key=value` it arrives as a string."""
    optional = False
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional, hint = True, args[0]
        origin = typing.get_origin(hint)

    # "none" empties an optional setting or a list; elsewhere it is a value (`-c auth=none`).
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "null")):
        if optional:
            return None
        if origin is tuple:
            return ()
        if value is None or not value.strip():
            raise SettingsError(f"{name} cannot be empty")

    try:
        if origin is tuple:
            if isinstance(value, str):
                text = value.strip()
                items = json.loads(text) if text.startswith("[") else text.split(",")
            else:
                items = value
            return tuple(str(item).strip() for item in items if str(item).strip())
        if hint is Mapping or (origin is not None and issubclass(origin, Mapping)):
            mapping = json.loads(value) if isinstance(value, str) else value
            return {str(k): str(v) for k, v in dict(mapping).items()}
        if hint is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("true", "1", "yes"):
                return True
            if text in ("false", "0", "no"):
                return False
            raise ValueError(value)
        if hint is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(value)
        if hint is float:
            return float(value)
        return str(value).strip()
    except (TypeError, ValueError):
        kind = {int: "a whole number", float: "a number", bool: "true or false"}.get(hint)
        raise SettingsError(f"{name} must be {kind or hint}, got {value!r}") from None
