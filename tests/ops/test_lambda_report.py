"""Lambda's REPORT lines, in the text and JSON log formats."""

from __future__ import annotations

import json

from ops.lambda_report import LambdaReport, parse_report

COLD = (
    "REPORT RequestId: 6f7a3c2e-8d1b-4c55-9f2e-1a2b3c4d5e6f\tDuration: 12.51 ms\t"
    "Billed Duration: 13 ms\tMemory Size: 1024 MB\tMax Memory Used: 98 MB\t"
    "Init Duration: 812.40 ms\t\nXRAY TraceId: 1-abc\tSegmentId: def\tSampled: true\t\n"
)


def test_a_cold_report_carries_the_init_duration() -> None:
    assert parse_report(COLD) == LambdaReport(
        request_id="6f7a3c2e-8d1b-4c55-9f2e-1a2b3c4d5e6f",
        duration_ms=12.51,
        billed_ms=13.0,
        memory_mb=1024.0,
        max_memory_mb=98.0,
        init_ms=812.4,
    )


def test_a_warm_report_has_no_init_duration() -> None:
    warm = COLD.replace("Init Duration: 812.40 ms\t", "")
    report = parse_report(warm)
    assert report is not None and report.init_ms is None and report.duration_ms == 12.51


def test_the_json_log_format_reads_the_same() -> None:
    line = json.dumps(
        {
            "time": "2026-11-26T10:00:00.000Z",
            "type": "platform.report",
            "record": {
                "requestId": "6f7a3c2e-8d1b-4c55-9f2e-1a2b3c4d5e6f",
                "metrics": {
                    "durationMs": 12.51,
                    "billedDurationMs": 13,
                    "memorySizeMB": 1024,
                    "maxMemoryUsedMB": 98,
                    "initDurationMs": 812.4,
                },
                "status": "success",
            },
        }
    )
    assert parse_report(line) == parse_report(COLD)


def test_other_lines_are_not_reports() -> None:
    for line in (
        "START RequestId: 6f7a3c2e Version: $LATEST",
        '{"level": "INFO", "message": "request", "request_id": "6f7a3c2e"}',
        '{"type": "platform.start", "record": {"requestId": "6f7a3c2e"}}',
        "{not json",
        "",
    ):
        assert parse_report(line) is None, line
