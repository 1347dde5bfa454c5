"""Evaluate the Monitoring filters the program writes against a time series' labels.

Only the subset the program uses: `key = "value"` clauses joined by AND. Anything else raises,
so a filter written differently fails the tests instead of being misread. The labels a Cloud Run
response gets are those Google documents for `run.googleapis.com/request_count` on the
`cloud_run_revision` resource: the status the container (or Cloud Run itself) answered, as
`response_code` and as its class `response_code_class` ("5xx").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

CLAUSE = re.compile(r'^([a-z_.]+) = "([^"]*)"$')


def matches(filter_: str, labels: Mapping[str, str]) -> bool:
    for clause in filter_.split(" AND "):
        parsed = CLAUSE.match(clause.strip())
        if parsed is None:
            raise ValueError(f"the test evaluator does not understand {clause!r}")
        key, value = parsed.groups()
        if labels.get(key) != value:
            return False
    return True


def request_count_labels(service: str, status: int) -> dict[str, str]:
    """The labels of the request_count series one response of `status` is counted in."""
    return {
        "metric.type": "run.googleapis.com/request_count",
        "resource.type": "cloud_run_revision",
        "resource.labels.service_name": service,
        "metric.labels.response_code": str(status),
        "metric.labels.response_code_class": f"{status // 100}xx",
    }


# Logging query language, the subset the program writes: terms joined by AND, one of them a
# parenthesised OR group; each term `field = "text"`, `field = number` or `field : "text"` (":"
# is "has": a case-insensitive substring). Fields are dotted paths into a LogEntry.
LOG_TERM = re.compile(r'^([A-Za-z_.]+) (=|:) (?:"([^"]*)"|(\d+))$')


def log_matches(query: str, entry: Mapping[str, Any]) -> bool:
    return all(_log_term(term, entry) for term in _split(query, " AND "))


def _split(query: str, operator: str) -> list[str]:
    """Split at `operator` outside parentheses and quotes."""
    parts, depth, quoted, start, i = [], 0, False, 0, 0
    while i < len(query):
        char = query[i]
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "()":
            depth += 1 if char == "(" else -1
        elif not quoted and depth == 0 and query.startswith(operator, i):
            parts.append(query[start:i])
            start = i + len(operator)
            i = start
            continue
        i += 1
    return [*parts, query[start:]]


def _log_term(term: str, entry: Mapping[str, Any]) -> bool:
    term = term.strip()
    if term.startswith("(") and term.endswith(")"):
        return any(_log_term(alternative, entry) for alternative in _split(term[1:-1], " OR "))
    parsed = LOG_TERM.match(term)
    if parsed is None:
        raise ValueError(f"the test evaluator does not understand {term!r}")
    path, operator, text, number = parsed.groups()
    value: Any = entry
    for key in path.split("."):
        value = value.get(key) if isinstance(value, Mapping) else None
    if value is None:
        return False
    if number is not None:
        return value == int(number)
    if operator == ":":
        return text.lower() in str(value).lower()
    return str(value) == text
