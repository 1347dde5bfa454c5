"""Parse the REPORT line Lambda writes after every invocation (text or JSON log format).

    REPORT RequestId: 3f8a... Duration: 12.51 ms Billed Duration: 13 ms Memory Size: 1024 MB
    Max Memory Used: 98 MB Init Duration: 812.40 ms

`Init Duration` appears only on the invocation that started its execution environment: the
platform's own measure of a cold start (runtime start, imports, model load).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any

_TEXT = re.compile(r"^REPORT RequestId:\s*(?P<request_id>\S+)\s")
_FIELDS = {
    "duration_ms": re.compile(r"(?<!Billed )(?<!Init )\bDuration:\s*([\d.]+)\s*ms"),
    "billed_ms": re.compile(r"Billed Duration:\s*([\d.]+)\s*ms"),
    "memory_mb": re.compile(r"Memory Size:\s*(\d+)\s*MB"),
    "max_memory_mb": re.compile(r"Max Memory Used:\s*(\d+)\s*MB"),
    "init_ms": re.compile(r"Init Duration:\s*([\d.]+)\s*ms"),
}
# platform.report record metrics (LoggingConfig LogFormat JSON) -> our field names
_JSON_METRICS = {
    "durationMs": "duration_ms",
    "billedDurationMs": "billed_ms",
    "memorySizeMB": "memory_mb",
    "maxMemoryUsedMB": "max_memory_mb",
    "initDurationMs": "init_ms",
}


@dataclass(frozen=True)
class LambdaReport:
    request_id: str
    duration_ms: float | None
    billed_ms: float | None
    memory_mb: float | None
    max_memory_mb: float | None
    init_ms: float | None  # None: the environment was already initialised (a warm invoke)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def parse_report(message: str) -> LambdaReport | None:
    """The REPORT line in `message`, or None if it is some other log line."""
    text = message.strip()
    if text.startswith("{"):
        return _parse_json(text)
    match = _TEXT.match(text)
    if match is None:
        return None
    values = {}
    for name, pattern in _FIELDS.items():
        found = pattern.search(text, match.end())
        values[name] = float(found.group(1)) if found else None
    return LambdaReport(request_id=match.group("request_id"), **values)


def _parse_json(text: str) -> LambdaReport | None:
    try:
        event = json.loads(text)
    except ValueError:
        return None
    if not isinstance(event, dict) or event.get("type") != "platform.report":
        return None
    record = event.get("record")
    if not isinstance(record, dict) or not isinstance(record.get("requestId"), str):
        return None
    metrics = record.get("metrics")
    if not isinstance(metrics, dict):
        metrics = {}
    values = {
        ours: float(metrics[theirs]) if isinstance(metrics.get(theirs), (int, float)) else None
        for theirs, ours in _JSON_METRICS.items()
    }
    return LambdaReport(request_id=record["requestId"], **values)
