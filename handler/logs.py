"""One JSON object per line on stdout: what CloudWatch Logs and Cloud Logging both parse into
structured fields.

Lines are written here rather than through Powertools' Logger: measured on the warm path,
Logger costs about 50 us a line (LogRecord, caller lookup, formatter), more than the whole rest
of a warm ONNX request, and its import about 40 ms of a cold start.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

from handler.service import InferenceService, Outcome

LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}


def write_json_line(record: dict[str, Any]) -> None:
    record = {"timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"), **record}
    try:
        line = orjson.dumps(record, default=str, option=orjson.OPT_APPEND_NEWLINE).decode()
    except orjson.JSONEncodeError:  # a lone surrogate, e.g. in an exception's text
        line = json.dumps(record, default=str, ensure_ascii=True) + "\n"
    sys.stdout.write(line)


class JsonLog:
    """Lines at or above `threshold` (LOG_LEVEL), with the level under `level_key` ("level" on
    AWS, "severity", which Cloud Logging reads, on GCP). A line that carries metrics is always
    written: dropping it would drop the metric."""

    def __init__(self, *, level_key: str, threshold: str, service: str) -> None:
        self._level_key = level_key
        self._threshold = LEVELS[threshold]
        self._service = service

    def write(self, level: str, message: str, **fields: Any) -> None:
        if LEVELS[level] < self._threshold and "_aws" not in fields:
            return
        write_json_line(
            {self._level_key: level, "message": message, "service": self._service, **fields}
        )

    def init(self, service: InferenceService) -> None:
        """The instance's one start-up line: timings and model, or why there is no model."""
        if service.model is None:
            message = "init failed: the model is unavailable, every request answers 503"
            self.write("ERROR", message, **service.init_report())
        else:
            self.write("INFO", "init", **service.init_report())


def access_record(outcome: Outcome, *, request_id: str, latency_ms: float) -> dict[str, Any]:
    """The fields of the per-request log line, the same on both clouds."""
    record: dict[str, Any] = {
        "request_id": request_id,
        "route": outcome.route,
        "status": outcome.response.status,
        "rows": outcome.rows,
        "latency_ms": round(latency_ms, 3),
        "cold_start": outcome.cold_start,
    }
    if outcome.stack_trace:
        # Kept for the logs (Error Reporting and Logs Insights read this field), never sent.
        record["stack_trace"] = outcome.stack_trace
    return record
