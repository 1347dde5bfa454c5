"""One JSON object per line on stdout: what CloudWatch Logs and Cloud Logging both parse into
structured fields.

The per-request line is written here rather than through Powertools' Logger: measured on the
warm path, Logger costs about 50 us a line (LogRecord, caller lookup, formatter) against about
4 us for this, and a warm prediction takes about 20 us.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import orjson


def write_json_line(record: dict[str, Any]) -> None:
    line = orjson.dumps(
        {"timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"), **record},
        default=str,
        option=orjson.OPT_APPEND_NEWLINE,
    )
    sys.stdout.write(line.decode())


def access_record(
    *, request_id: str, route: str, status: int, rows: int, latency_ms: float, cold_start: bool
) -> dict[str, Any]:
    """The fields of the per-request log line, the same on both clouds."""
    return {
        "request_id": request_id,
        "route": route,
        "status": status,
        "rows": rows,
        "latency_ms": round(latency_ms, 3),
        "cold_start": cold_start,
    }
