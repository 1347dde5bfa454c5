"""DeploySettings: per-environment defaults, context overrides, and validation (no synthesis)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from model.catalog import PER_MODEL_SETTINGS
from stacks.logs import _RETENTION
from stacks.settings import (
    ENVIRONMENTS,
    PER_MODEL,
    RETENTION_DAYS,
    DeploySettings,
    SettingsError,
    build_settings,
    for_model,
)

# Settings built here never read cdk.json's `environments` block: these tests pin upstream
# defaults, which a fork's cdk.json may change.


def test_dev_is_the_default_environment():
    assert build_settings({}).env_name == "dev"


def test_prod_defaults_keep_one_environment_warm_and_scale_on_utilization():
    prod = build_settings({"env": "prod"})
    # The scalable target alone owns provisioned concurrency: it starts at the minimum
    assert prod.provisioned_concurrency == 0
    assert (prod.autoscaling_min, prod.autoscaling_max, prod.autoscaling_target) == (1, 4, 0.7)
    assert prod.warm
    # Releases: 10% for 5 minutes, judged by the release alarms, after the pre-traffic check
    assert prod.deployment_config == "Canary10Percent5Minutes" and prod.gradual_release
    assert prod.pre_traffic_hook
    assert prod.architecture == "arm64"
    assert prod.memory_mb == 1024
    assert prod.auth == "iam"  # private: SigV4 callers only
    assert prod.reserved_concurrency == 20
    assert prod.max_body_bytes is None  # the handler derives it from the model
    assert prod.cors_allowed_origins == ()
    assert prod.termination_protection and prod.retain_logs


def test_public_prod_is_one_setting_away():
    assert build_settings({"env": "prod", "auth": "none"}).auth == "none"


def test_dev_defaults_are_cheap_and_disposable():
    dev = build_settings({"env": "dev"})
    assert dev.auth == "none"
    assert dev.reserved_concurrency is None
    assert dev.provisioned_concurrency == 0
    assert not dev.autoscaling
    assert not dev.warm
    assert dev.deployment_config == "AllAtOnce" and not dev.gradual_release
    assert dev.health_check_minutes == 0
    assert not dev.termination_protection and not dev.retain_logs
    assert dev.log_retention_days == 7


def test_environments_have_distinct_stack_names():
    names = {build_settings({"env": env}).stack_name for env in ENVIRONMENTS}
    assert len(names) == len(ENVIRONMENTS)


def test_command_line_strings_are_converted_to_field_types():
    settings = build_settings(
        {
            "env": "prod",
            "memory_mb": "2048",
            "tracing": "false",
            "autoscaling_max": "8",
            "throttle_rate_limit": "25.5",
            "cors_allowed_origins": "https://a.example.com, https://b.example.com",
            "reserved_concurrency": "none",
            "provisioned_concurrency": "0",
            "tags": '{"CostCenter": "ml-42"}',
        }
    )
    assert settings.memory_mb == 2048
    assert settings.tracing is False
    assert settings.autoscaling_max == 8
    assert settings.throttle_rate_limit == 25.5
    assert settings.cors_allowed_origins == ("https://a.example.com", "https://b.example.com")
    assert settings.reserved_concurrency is None
    assert settings.tags == {"CostCenter": "ml-42"}


def test_cdk_json_block_overrides_defaults_and_command_line_overrides_the_block():
    context = {
        "env": "dev",
        "environments": {"dev": {"memory_mb": 512, "log_level": "DEBUG"}},
        "memory_mb": "768",
    }
    settings = build_settings(context)
    assert (settings.memory_mb, settings.log_level) == (768, "DEBUG")


def test_json_list_from_the_command_line():
    settings = build_settings(
        {"auth": "jwt", "jwt_issuer": "https://id.example.com", "jwt_audiences": '["a", "b"]'}
    )
    assert settings.jwt_audiences == ("a", "b")


def test_unknown_environment_is_refused():
    with pytest.raises(SettingsError, match="env must be one of dev, prod"):
        build_settings({"env": "staging"})


def test_typo_in_an_environment_block_is_refused_naming_the_file_and_a_close_setting():
    with pytest.raises(SettingsError) as error:
        build_settings({"environments": {"dev": {"memory": 512}}})
    assert str(error.value) == (
        "cdk.json environments.dev: memory is not a setting (did you mean memory_mb?); "
        "stacks/settings.py's DeploySettings lists them all"
    )


def test_a_command_line_key_one_typo_from_a_setting_is_refused_and_others_are_left_alone():
    with pytest.raises(SettingsError, match=r"^-c memroy_mb: .*did you mean memory_mb\?"):
        build_settings({"memroy_mb": "2048"})
    # Keys of CDK or of other parts of the app are not settings, and not near one
    assert build_settings({"github_repository": "o/r", "models_file": "x.toml"}).memory_mb


@pytest.mark.parametrize(
    ("context", "line"),
    [
        ({"memory_mb": "99"}, "-c memory_mb=99: memory_mb must be between 128 and 10240, got 99"),
        (
            {"environments": {"dev": {"memory_mb": 99}}},
            "cdk.json environments.dev: memory_mb must be between 128 and 10240, got 99",
        ),
        ({"memory_mb": "lots"}, "-c memory_mb=lots: memory_mb must be a whole number, got 'lots'"),
        # A value set conflicting with a default: the line blames the value someone set
        (
            {"env": "prod", "reserved_concurrency": "2"},
            "-c reserved_concurrency=2: autoscaling_max (4) cannot exceed reserved_concurrency (2)",
        ),
    ],
)
def test_each_problem_is_one_line_naming_where_the_value_came_from(context, line):
    with pytest.raises(SettingsError) as error:
        build_settings(context)
    assert str(error.value).startswith(line) and "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"timeout_seconds": 30}, "timeout_seconds must be between 1 and 29"),
        ({"timeout_seconds": 0}, "timeout_seconds must be between 1 and 29"),
        ({"memory_mb": 64}, "memory_mb must be between 128 and 10240"),
        ({"memory_mb": 10241}, "memory_mb must be between 128 and 10240"),
        ({"provisioned_concurrency": -1}, "provisioned_concurrency must be 0 or more"),
        ({"reserved_concurrency": 0}, "reserved_concurrency must be at least 1"),
        (
            {
                "reserved_concurrency": 2,
                "provisioned_concurrency": 3,
                "autoscaling_min": None,
                "autoscaling_max": None,
            },
            "provisioned_concurrency (3) cannot exceed reserved_concurrency (2)",
        ),
        # `-c env=prod -c reserved_concurrency=2` used to synthesize a maximum of 4 that Lambda
        # could never apply
        (
            {"reserved_concurrency": 2},
            "autoscaling_max (4) cannot exceed reserved_concurrency (2)",
        ),
        ({"autoscaling_min": None}, "set together or not at all"),
        (
            {"autoscaling_min": 5, "autoscaling_max": 2},
            "1 <= autoscaling_min <= autoscaling_max",
        ),
        ({"provisioned_concurrency": 2}, "would both own the alias's provisioned concurrency"),
        ({"autoscaling_target": 1.5}, "autoscaling_target must be between 0.1 and 0.9"),
        ({"architecture": "arm"}, "architecture must be one of arm64, x86_64"),
        ({"log_retention_days": 10}, "log_retention_days must be one of"),
        ({"model_backend": "torch"}, "model_backend must be one of"),
        ({"cors_allowed_origins": ("*",)}, "no '*'"),
        ({"cors_allowed_origins": ("app.example.com",)}, "cors_allowed_origins"),
        ({"auth": "jwt"}, "auth=jwt needs jwt_issuer"),
        ({"auth": "jwt", "jwt_issuer": "https://id.example.com"}, "at least one entry"),
        ({"jwt_issuer": "https://id.example.com"}, "only apply with auth=jwt"),
        ({"image_tag": "v1"}, "need image_repository"),
        ({"image_repository": "inference"}, "exactly one of image_tag or image_digest"),
        (
            {
                "image_repository": "inference",
                "image_tag": "v1",
                "image_digest": "sha256:" + "a" * 64,
            },
            "exactly one of image_tag or image_digest",
        ),
        ({"image_repository": "inference", "image_digest": "sha256:abc"}, "sha256:<64 hex"),
        ({"alarm_email": "oncall"}, "not an e-mail address"),
        (
            {"image_repository": "inference", "image_tag": "v1", "base_image": "python:3.12"},
            "base_image applies to the image built here",
        ),
        ({"throttle_burst_limit": 0}, "throttle_burst_limit at least 1"),
        ({"max_body_bytes": 0}, "max_body_bytes must be between 1 and 6291456"),
        ({"max_body_bytes": 6291457}, "max_body_bytes must be between 1 and 6291456"),
        ({"auth": "open"}, "auth must be one of none, jwt, iam"),
        ({"deployment_config": "Canary50Percent1Minute"}, "deployment_config must be one of"),
        ({"health_check_minutes": 10}, "health_check_minutes must be 0 (off) to 5"),
        ({"alarm_errors": -1}, "alarm_errors must be 0 (any one pages) or more"),
        ({"alarm_server_errors": -1}, "alarm_server_errors must be 0 (any one pages) or more"),
        ({"alarm_latency_p99_ms": 0}, "alarm_latency_p99_ms must be from 1 to under the timeout"),
        # A duration never exceeds the timeout: such an alarm could never fire
        ({"alarm_latency_p99_ms": 10_000}, "under the timeout (10000 ms"),
    ],
)
def test_invalid_settings_are_refused_with_a_clear_message(overrides, message):
    with pytest.raises(SettingsError, match=re.escape(message)):
        DeploySettings(env_name="dev", stack_name="SklearnInference-dev", **overrides)


def test_every_problem_is_reported_at_once():
    with pytest.raises(SettingsError) as error:
        DeploySettings(env_name="dev", stack_name="S", memory_mb=1, timeout_seconds=99)
    assert "memory_mb" in str(error.value) and "timeout_seconds" in str(error.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [("memory_mb", "lots"), ("tracing", "maybe"), ("memory_mb", "1.5"), ("stack_name", "")],
)
def test_unreadable_command_line_values_are_refused(field, value):
    with pytest.raises(SettingsError, match=field):
        build_settings({field: value})


def test_every_allowed_log_retention_maps_to_a_cdk_value():
    assert set(RETENTION_DAYS) == set(_RETENTION)


def test_the_guides_settings_table_lists_every_setting_with_its_defaults():
    guide = (Path(__file__).resolve().parents[2] / "docs" / "deploy-aws.md").read_text()
    section = guide.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`"):
            for name in cells[0].replace("`", "").split(" / "):
                rows[name] = (cells[1], cells[2])
    fields = {f.name for f in dataclasses.fields(DeploySettings)} - {"env_name"}
    assert set(rows) == fields
    for env, column in (("dev", 0), ("prod", 1)):
        settings = build_settings({"env": env})
        for name, cells in rows.items():
            if " / " in cells[column]:  # a combined row: "1 / 4"
                continue
            value = getattr(settings, name)
            shown = cells[column].strip("`")
            if value in (None, (), {}):
                assert shown == "none", f"{name} ({env})"
            elif isinstance(value, bool):
                assert shown == str(value).lower(), f"{name} ({env})"
            elif isinstance(value, float):
                assert float(shown) == value, f"{name} ({env})"
            else:
                assert shown == str(value), f"{name} ({env})"


# Per-model settings (models.toml): each model's overrides on top of the environment's settings.


def test_a_model_overrides_the_environment_and_reads_only_its_own_keys():
    prod = build_settings({"env": "prod"})
    # GIVEN wine's overrides in prod, one of them (min_instances) for Google Cloud
    overrides = {"memory_mb": 2048, "alarm_latency_p99_ms": 1500, "min_instances": 2}
    wine = for_model(prod, "wine", overrides)
    assert (wine.memory_mb, wine.alarm_latency_p99_ms) == (2048, 1500)
    # THEN everything else is the environment's
    assert dataclasses.replace(wine, memory_mb=1024, alarm_latency_p99_ms=1000) == prod
    assert for_model(prod, "iris", {}) == prod


def test_per_model_values_are_converted_like_command_line_ones():
    wine = for_model(build_settings({"env": "dev"}), "wine", {"reserved_concurrency": "none"})
    assert wine.reserved_concurrency is None
    assert for_model(build_settings({}), "wine", {"memory_mb": "2048"}).memory_mb == 2048


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"memory_mb": 64}, "memory_mb must be between 128 and 10240, got 64"),
        ({"memory_mb": "lots"}, "memory_mb must be a whole number, got 'lots'"),
        ({"deployment_config": "Canary50Percent1Minute"}, "deployment_config must be one of"),
        # Valid alone, not with prod's reserved concurrency (20)
        ({"autoscaling_max": 30}, "autoscaling_max (30) cannot exceed reserved_concurrency (20)"),
    ],
)
def test_an_invalid_per_model_value_is_refused_naming_the_model(overrides, message):
    with pytest.raises(SettingsError, match=re.escape(message)) as error:
        for_model(build_settings({"env": "prod"}), "wine", overrides)
    assert str(error.value).startswith("models.toml [models.wine] (prod): ")


def test_per_model_settings_are_the_catalogs_that_aws_deploys():
    # The catalog refuses any key it does not list; AWS reads exactly those it has a field for
    fields = {f.name for f in dataclasses.fields(DeploySettings)}
    assert set(PER_MODEL) == set(PER_MODEL_SETTINGS) & fields


def test_stack_wide_settings_are_not_per_model():
    stack_wide = {
        "stack_name",
        "auth",
        "jwt_issuer",
        "jwt_audiences",
        "cors_allowed_origins",
        "throttle_rate_limit",
        "throttle_burst_limit",
        "alarm_email",
        "tags",
        "log_retention_days",
        "retain_logs",
        "termination_protection",
    }
    assert not stack_wide & set(PER_MODEL)
