"""Turn a request body into a (rows x features) float array, or say exactly what is wrong.

Accepted bodies (one row, a batch, the Vertex AI / SageMaker form, named features):
    {"features": [5.1, 3.5, 1.4, 0.2]}
    {"features": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}
    {"instances": [[5.1, 3.5, 1.4, 0.2]]}
    {"features": {"sepal_length": 5.1, "sepal_width": 3.5, ...}}   (or a list of such objects)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson

from handler.errors import InvalidInput
from handler.limits import FLOAT32_MAX, count_values, value_limit

EXAMPLE = '{"features": [5.1, 3.5, 1.4, 0.2]}'


class _NonFiniteLiteral(ValueError):
    pass


def _reject_constant(name: str) -> float:
    # Python's json accepts NaN and Infinity, which are not JSON; refuse them at parse time.
    raise _NonFiniteLiteral(name)


def decode_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)  # strict RFC 8259: accepts only what the stdlib also accepts
    except orjson.JSONDecodeError:
        pass  # the stdlib below says precisely what is wrong, or accepts what orjson will not
    if not body.strip():
        raise InvalidInput(
            f"request body is empty; send a JSON object such as {EXAMPLE}", code="empty_body"
        )
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"request body is not UTF-8 text (invalid byte at offset {exc.start})",
            code="invalid_json",
        ) from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except _NonFiniteLiteral as exc:
        raise InvalidInput(
            f"{exc} is not a finite number; every feature value must be finite",
            code="non_finite_value",
        ) from None
    except RecursionError:
        raise InvalidInput(
            "request body is not valid JSON: nested too deeply", code="invalid_json"
        ) from None
    except ValueError as exc:  # JSONDecodeError, and int strings past Python's digit limit
        raise InvalidInput(f"request body is not valid JSON: {exc}", code="invalid_json") from None


def parse_rows(body: bytes, feature_names: tuple[str, ...], max_rows: int) -> np.ndarray:
    """The feature rows of a predict request, validated against the model's feature names."""
    most = value_limit(feature_names, max_rows)
    if count_values(body) > most:
        raise InvalidInput(
            f"request body holds more than {most} JSON values, more than {max_rows} rows of "
            f"{len(feature_names)} features can; send at most {max_rows} rows per request",
            code="too_many_values",
        )
    payload = decode_json(body)
    if not isinstance(payload, dict):
        raise InvalidInput(
            f"request body must be a JSON object such as {EXAMPLE}, got {_kind(payload)}",
            code="invalid_body",
        )
    if "features" in payload and "instances" in payload:
        raise InvalidInput("send either 'features' or 'instances', not both", code="invalid_body")
    if "instances" in payload:
        key, rows = "instances", payload["instances"]
        if not isinstance(rows, list) or any(not isinstance(r, (list, dict)) for r in rows):
            raise InvalidInput(
                "'instances' must be a list of rows, each an array of numbers or an object of "
                'named features, e.g. {"instances": [[5.1, 3.5, 1.4, 0.2]]}',
                code="invalid_features",
            )
        batch = True
    elif "features" in payload:
        key, value = "features", payload["features"]
        if isinstance(value, dict):
            rows, batch = [value], False
        elif isinstance(value, list):
            batch = bool(value) and isinstance(value[0], (list, dict))
            rows = value if batch else [value]
        else:
            raise InvalidInput(
                f"'features' must be an array of numbers, an array of rows or an object of named "
                f"features, got {_kind(value)}",
                code="invalid_features",
            )
    else:
        keys = ", ".join(repr(k) for k in list(payload)[:5]) or "none"
        raise InvalidInput(
            f"request body has no 'features' (or 'instances') field (keys: {keys}); "
            f"send e.g. {EXAMPLE}",
            code="missing_features",
        )

    if not rows or (not batch and rows[0] == []):
        raise InvalidInput(f"'{key}' is empty; send at least one row", code="empty_batch")
    if len(rows) > max_rows:
        raise InvalidInput(
            f"batch has {len(rows)} rows; the limit is {max_rows} rows per request",
            code="batch_too_large",
        )
    values = _flatten(rows, key, batch, feature_names)
    return np.array(values, dtype=np.float64).reshape(len(rows), len(feature_names))


def _flatten(rows: list[Any], key: str, batch: bool, names: Sequence[str]) -> list[float]:
    width = len(names)
    first_width = len(rows[0]) if isinstance(rows[0], list) else None
    out: list[float] = []
    for i, row in enumerate(rows):
        where = f"{key}[{i}]" if batch else key
        if isinstance(row, dict):
            out.extend(_named_row(row, where, names))
            continue
        if not isinstance(row, list):
            raise InvalidInput(
                f"{where} is {_kind(row)}; every row must be an array of {width} numbers",
                code="ragged_batch",
            )
        if first_width is not None and len(row) != first_width:
            raise InvalidInput(
                f"rows have different lengths: {key}[0] has {first_width} values, {where} has "
                f"{len(row)}",
                code="ragged_batch",
            )
        if len(row) != width:
            raise InvalidInput(
                f"{where} has {len(row)} values; the model expects {width}: {', '.join(names)}",
                code="wrong_feature_count",
            )
        for j, v in enumerate(row):
            out.append(_number(v, f"{where}[{j}] ({names[j]})"))
    return out


def _named_row(row: dict[str, Any], where: str, names: Sequence[str]) -> list[float]:
    unknown = [k for k in row if k not in names]
    if unknown:
        raise InvalidInput(
            f"{where} has unknown feature {', '.join(repr(k) for k in unknown[:5])}; "
            f"the model's features are {', '.join(names)}",
            code="unknown_feature",
        )
    missing = [n for n in names if n not in row]
    if missing:
        raise InvalidInput(
            f"{where} is missing feature {', '.join(missing)}", code="missing_feature"
        )
    return [_number(row[n], f"{where}.{n}") for n in names]


def _number(value: Any, where: str) -> float:
    # type() rather than isinstance(): bool is an int subclass, and true is not a number.
    if type(value) is not float and type(value) is not int:
        raise InvalidInput(f"{where} must be a number, got {_kind(value)}", code="invalid_value")
    try:
        number = float(value)
    except OverflowError:  # an integer literal beyond float64
        raise _out_of_range(where, f"an integer of {len(str(abs(value)))} digits") from None
    # NaN never gets here (both parsers refuse the literal); inf does (1e999), and fails this.
    if not -FLOAT32_MAX <= number <= FLOAT32_MAX:
        raise _out_of_range(where, repr(number))
    return number


def _out_of_range(where: str, shown: str) -> InvalidInput:
    return InvalidInput(
        f"{where} is {shown}, outside the range the model computes in: "
        f"-{FLOAT32_MAX:.8g} to {FLOAT32_MAX:.8g} (float32)",
        code="value_out_of_range",
    )


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 20 else value[:17] + "..."
        return f"string {json.dumps(shown)}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
