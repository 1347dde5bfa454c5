"""Settings are read from the environment once, with defaults and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from handler.settings import DEFAULT_MODEL_DIR, Settings, SettingsError


def test_defaults_when_environment_is_empty() -> None:
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.model_dir == DEFAULT_MODEL_DIR
    # No body limit set: the service derives one from the model (handler/limits.py).
    assert (settings.backend, settings.max_batch_rows, settings.max_body_bytes) == (
        "auto",
        1000,
        None,
    )
    assert settings.prewarmed is False


def test_every_variable_is_read() -> None:
    settings = Settings.from_env(
        {
            "MODEL_DIR": "/opt/model",
            "MODEL_BACKEND": "JOBLIB",
            "MAX_BATCH_ROWS": "50",
            "MAX_BODY_BYTES": "1024",
            "LOG_LEVEL": "debug",
            "POWERTOOLS_SERVICE_NAME": "iris",
            "POWERTOOLS_METRICS_NAMESPACE": "Ml",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "provisioned-concurrency",
        }
    )
    assert settings == Settings(
        model_dir=Path("/opt/model"),
        backend="joblib",
        max_batch_rows=50,
        max_body_bytes=1024,
        log_level="DEBUG",
        service_name="iris",
        metrics_namespace="Ml",
        prewarmed=True,
    )


def test_on_demand_initialisation_is_not_prewarmed() -> None:
    assert Settings.from_env({"AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand"}).prewarmed is False


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"MODEL_BACKEND": "torch"},
            "MODEL_BACKEND must be one of auto, onnx, joblib, got 'torch'",
        ),
        ({"MAX_BATCH_ROWS": "ten"}, "MAX_BATCH_ROWS must be a whole number, got 'ten'"),
        ({"MAX_BATCH_ROWS": "0"}, "MAX_BATCH_ROWS must be at least 1, got 0"),
        ({"MAX_BODY_BYTES": "-5"}, "MAX_BODY_BYTES must be at least 1, got -5"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
    ],
)
def test_invalid_values_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_route_prefix_is_read_and_checked() -> None:
    assert Settings.from_env({"ROUTE_PREFIX": "/models/wine/"}).route_prefix == "/models/wine"
    with pytest.raises(SettingsError, match="ROUTE_PREFIX must look like /models/<name>"):
        Settings.from_env({"ROUTE_PREFIX": "models wine"})
