"""Request bodies: every accepted form, and every malformed one answered with what is wrong."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from handler import request
from handler.errors import InvalidInput
from handler.request import parse_rows
from tests.conftest import SETOSA, VIRGINICA

NAMES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
NAMED_SETOSA = dict(zip(NAMES, SETOSA, strict=True))


def parse(body: object, max_rows: int = 1000) -> np.ndarray:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse_rows(raw, NAMES, max_rows)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param({"features": SETOSA}, [SETOSA], id="one-row"),
        pytest.param({"features": [SETOSA, VIRGINICA]}, [SETOSA, VIRGINICA], id="batch"),
        pytest.param({"instances": [SETOSA, VIRGINICA]}, [SETOSA, VIRGINICA], id="instances"),
        pytest.param({"features": NAMED_SETOSA}, [SETOSA], id="named"),
        pytest.param(
            {"features": {k: NAMED_SETOSA[k] for k in reversed(NAMES)}},
            [SETOSA],
            id="named-any-order",
        ),
        pytest.param(
            {"instances": [NAMED_SETOSA, VIRGINICA]}, [SETOSA, VIRGINICA], id="mixed-rows"
        ),
        pytest.param({"features": [5, 3, 1, 0]}, [[5.0, 3.0, 1.0, 0.0]], id="integers"),
        pytest.param({"features": SETOSA, "parameters": {}}, [SETOSA], id="extra-keys-ignored"),
    ],
)
def test_parse_accepts_every_documented_form(body: object, expected: list[list[float]]) -> None:
    rows = parse(body)
    assert rows.dtype == np.float64
    assert rows.tolist() == expected


def test_parse_accepts_utf8_bom_and_whitespace() -> None:
    body = b"\xef\xbb\xbf  " + json.dumps({"features": SETOSA}).encode() + b"\n"
    assert parse(body).tolist() == [SETOSA]


def test_parse_keeps_batch_order() -> None:
    batch = [[float(i), 1.0, 2.0, 3.0] for i in range(50)]
    assert parse({"features": batch})[:, 0].tolist() == [float(i) for i in range(50)]


INVALID = [
    # (body, code, fragment of the message)
    (b"", "empty_body", "request body is empty"),
    (b"   \n", "empty_body", "request body is empty"),
    (b"\xff\xfe{", "invalid_json", "not UTF-8"),
    (b"{features: [1]}", "invalid_json", "not valid JSON"),
    (b'{"features": [1, 2, 3, 4]', "invalid_json", "not valid JSON"),
    (b"[" * 5000 + b"]" * 5000, "invalid_json", "nested too deeply"),
    (b"[" * 100_000 + b"]" * 100_000, "too_many_values", "more than 10064 JSON values"),
    (b'{"features": [' + b"{}," * 2_000_000 + b"{}]}", "too_many_values", "at most 1000 rows"),
    (b"1" * 5000, "invalid_json", "not valid JSON"),
    (b'{"features": [NaN, 1, 2, 3]}', "non_finite_value", "NaN is not a finite number"),
    (b'{"features": [Infinity, 1, 2, 3]}', "non_finite_value", "Infinity is not a finite"),
    (b'{"features": [-Infinity, 1, 2, 3]}', "non_finite_value", "-Infinity is not a finite"),
    (
        b'{"features": [1e39, 3.5, 1.4, 0.2]}',
        "value_out_of_range",
        "features[0] (sepal_length) is 1e+39, outside the range the model computes in: "
        "-3.4028235e+38 to 3.4028235e+38 (float32)",
    ),
    (
        b'{"features": [1, -4e38, 1, 1]}',
        "value_out_of_range",
        "features[1] (sepal_width) is -4e+38",
    ),
    (b'{"features": [1.797e308, 1, 2, 3]}', "value_out_of_range", "is 1.797e+308, outside"),
    (b'{"features": [1e999, 1, 2, 3]}', "value_out_of_range", "features[0] (sepal_length) is inf"),
    (b'{"features": [' + b"9" * 300 + b", 1, 2, 3]}", "value_out_of_range", "is 1e+300, outside"),
    (
        b'{"features": [' + b"9" * 400 + b", 1, 2, 3]}",
        "value_out_of_range",
        "an integer of 400 digits",
    ),
    (
        b'{"features": {"sepal_length": 1, "sepal_width": 2, "petal_length": 3, "petal_width": 1e39}}',
        "value_out_of_range",
        "features.petal_width is 1e+39",
    ),
    (b"[5.1, 3.5, 1.4, 0.2]", "invalid_body", "must be a JSON object"),
    (b'"features"', "invalid_body", 'got string "features"'),
    (b"null", "invalid_body", "got null"),
    (b"{}", "missing_features", "no 'features' (or 'instances') field (keys: none)"),
    (b'{"feature": [1, 2, 3, 4]}', "missing_features", "keys: 'feature'"),
    (b'{"features": [1,2,3,4], "instances": [[1,2,3,4]]}', "invalid_body", "not both"),
    (b'{"features": "5.1,3.5,1.4,0.2"}', "invalid_features", "got string"),
    (b'{"features": 5.1}', "invalid_features", "got the number 5.1"),
    (b'{"features": null}', "invalid_features", "got null"),
    (
        b'{"instances": [5.1, 3.5, 1.4, 0.2]}',
        "invalid_features",
        "'instances' must be a list of rows",
    ),
    (b'{"instances": {"sepal_length": 1}}', "invalid_features", "'instances' must be a list"),
    (b'{"features": []}', "empty_batch", "'features' is empty"),
    (b'{"instances": []}', "empty_batch", "'instances' is empty"),
    (
        b'{"features": [1, 2, 3]}',
        "wrong_feature_count",
        "features has 3 values; the model expects 4",
    ),
    (b'{"features": [1, 2, 3, 4, 5]}', "wrong_feature_count", "expects 4: sepal_length"),
    (b'{"features": [[1, 2, 3]]}', "wrong_feature_count", "features[0] has 3 values"),
    (
        b'{"features": [[1, 2, 3, 4], [1, 2, 3]]}',
        "ragged_batch",
        "features[0] has 4 values, features[1] has 3",
    ),
    (b'{"features": [[1, 2, 3, 4], 5]}', "ragged_batch", "features[1] is the number 5"),
    (
        b'{"features": ["5.1", 3.5, 1.4, 0.2]}',
        "invalid_value",
        'features[0] (sepal_length) must be a number, got string "5.1"',
    ),
    (b'{"features": [true, 3.5, 1.4, 0.2]}', "invalid_value", "got boolean true"),
    (
        b'{"features": [1, false, 1.4, 0.2]}',
        "invalid_value",
        "features[1] (sepal_width) must be a number, got boolean false",
    ),
    (b'{"features": [null, 3.5, 1.4, 0.2]}', "invalid_value", "got null"),
    (
        b'{"features": [[1, 2, 3, 4], [1, 2, {}, 4]]}',
        "invalid_value",
        "features[1][2] (petal_length) must be a number, got an object",
    ),
    (b'{"features": [1, [2], 3, 4]}', "invalid_value", "got an array"),
    (
        b'{"features": {"sepal_length": 1, "sepal_width": 2, "petal_length": 3, "petal_lenght": 4}}',
        "unknown_feature",
        "unknown feature 'petal_lenght'; the model's features are sepal_length",
    ),
    (
        b'{"features": {"sepal_length": 1, "sepal_width": 2, "petal_length": 3}}',
        "missing_feature",
        "features is missing feature petal_width",
    ),
    (
        b'{"instances": [{"sepal_length": 1, "sepal_width": 2, "petal_length": 3, "petal_width": "x"}]}',
        "invalid_value",
        "instances[0].petal_width must be a number",
    ),
]


@pytest.mark.parametrize(
    ("body", "code", "fragment"), INVALID, ids=[f"{c}-{i}" for i, (_, c, _) in enumerate(INVALID)]
)
def test_parse_rejects_malformed_body_with_a_precise_message(
    body: bytes, code: str, fragment: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_rows(body, NAMES, max_rows=1000)
    assert raised.value.status == 400
    assert raised.value.code == code
    assert fragment in raised.value.message


def test_parse_rejects_batch_over_the_limit_and_names_it() -> None:
    with pytest.raises(InvalidInput) as raised:
        parse({"features": [SETOSA] * 11}, max_rows=10)
    assert raised.value.code == "batch_too_large"
    assert raised.value.message == "batch has 11 rows; the limit is 10 rows per request"


def test_parse_accepts_batch_at_the_limit() -> None:
    assert parse({"features": [SETOSA] * 10}, max_rows=10).shape == (10, 4)


# --- the exact edges ------------------------------------------------------------------------

# float32's largest finite value, from numpy rather than from the handler's own constant.
F32_MAX = float(np.finfo(np.float32).max)


@pytest.mark.parametrize("edge", [F32_MAX, -F32_MAX], ids=["max", "min"])
def test_the_float32_extremes_themselves_are_accepted_exactly(edge: float) -> None:
    assert parse({"features": [edge, 3.5, 1.4, 0.2]}).tolist() == [[edge, 3.5, 1.4, 0.2]]


@pytest.mark.parametrize(
    ("beyond", "shown"),
    [
        (math.nextafter(F32_MAX, math.inf), "3.402823466385289e+38"),
        (math.nextafter(-F32_MAX, -math.inf), "-3.402823466385289e+38"),
    ],
    ids=["above-max", "below-min"],
)
def test_the_next_float_beyond_the_float32_range_is_refused(beyond: float, shown: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse({"features": [1.0, beyond, 1.4, 0.2]})
    assert raised.value.code == "value_out_of_range"
    assert raised.value.message.startswith(f"features[1] (sepal_width) is {shown}, outside")


def marks(value: object) -> int:
    """What the pre-parse guard counts in a JSON document, from its structure rather than its
    bytes: each container's opening bracket and the comma between each two of its members."""
    if isinstance(value, (dict, list)):
        members = list(value.values()) if isinstance(value, dict) else value
        return 1 + max(len(members) - 1, 0) + sum(marks(m) for m in members)
    return 0


# Two rows of four features: twice the values and containers two rows can hold, plus 64.
ROWS_LIMIT, VALUES_LIMIT = 2, 2 * 2 * (4 + 1) + 64


def at_the_value_limit(shape: str, extra: int = 0) -> tuple[dict, list[list[float]]]:
    """A request of one row (`flat`) or ROWS_LIMIT rows (`nested`) whose unknown `pad` key,
    numbers or empty arrays, brings the guard's count to exactly VALUES_LIMIT, plus `extra`."""
    rows = [SETOSA] if shape == "flat" else [SETOSA, VIRGINICA]
    body: dict = {"features": rows[0] if shape == "flat" else rows, "pad": []}
    need = VALUES_LIMIT + extra - marks(body)
    if shape == "flat":
        body["pad"] = [0] * (need + 1)  # n numbers add n - 1 commas
    else:
        arrays, numbers = divmod(need + 1, 2)  # an array adds its bracket and a comma
        body["pad"] = [[]] * arrays + [0] * numbers
    assert marks(body) == VALUES_LIMIT + extra
    return body, rows


@pytest.mark.parametrize("shape", ["flat", "nested"])
def test_a_body_of_exactly_the_value_limit_is_parsed(shape: str) -> None:
    body, rows = at_the_value_limit(shape)
    assert parse(body, max_rows=ROWS_LIMIT).tolist() == rows


@pytest.mark.parametrize("shape", ["flat", "nested"])
def test_one_value_over_the_limit_is_refused_before_parsing(
    shape: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    body, _ = at_the_value_limit(shape, extra=1)
    monkeypatch.setattr(request, "decode_json", lambda _: pytest.fail("the body was parsed"))
    with pytest.raises(InvalidInput) as raised:
        parse(body, max_rows=ROWS_LIMIT)
    assert raised.value.code == "too_many_values"
    assert raised.value.message == (
        f"request body holds more than {VALUES_LIMIT} JSON values, more than 2 rows of 4 "
        "features can; send at most 2 rows per request"
    )


def test_a_valid_body_is_parsed_once_by_orjson_without_the_stdlib_fallback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The stdlib parser is several times slower; it only explains what orjson refused.
    monkeypatch.setattr(request.json, "loads", lambda *_, **__: pytest.fail("stdlib parse"))
    assert parse({"features": SETOSA}).tolist() == [SETOSA]


LONG = "x" * 100
SHOWN = '"' + "x" * 17 + '..."'  # what a message shows of a string over 20 characters


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (
            LONG,
            "invalid_body",
            f"request body must be a JSON object such as {request.EXAMPLE}, got string {SHOWN}",
        ),
        (
            {"features": LONG},
            "invalid_features",
            f"'features' must be an array of numbers, an array of rows or an object of named features, got string {SHOWN}",
        ),
        (
            {"features": [LONG, 3.5, 1.4, 0.2]},
            "invalid_value",
            f"features[0] (sepal_length) must be a number, got string {SHOWN}",
        ),
        (
            {"features": [SETOSA, [1, 2, 3, LONG]]},
            "invalid_value",
            f"features[1][3] (petal_width) must be a number, got string {SHOWN}",
        ),
        (
            {"instances": [{**NAMED_SETOSA, "petal_width": LONG}]},
            "invalid_value",
            f"instances[0].petal_width must be a number, got string {SHOWN}",
        ),
        (
            {"features": [SETOSA, LONG]},
            "ragged_batch",
            f"features[1] is string {SHOWN}; every row must be an array of 4 numbers",
        ),
        (
            {"features": {**NAMED_SETOSA, LONG: 1}},
            "unknown_feature",
            f"features has unknown feature '{LONG}'; the model's features are sepal_length, sepal_width, petal_length, petal_width",
        ),
        (
            {LONG: SETOSA},
            "missing_features",
            f"request body has no 'features' (or 'instances') field (keys: '{LONG}'); send e.g. {request.EXAMPLE}",
        ),
    ],
    ids=["body", "features", "value", "nested-value", "named-value", "row", "key", "top-level-key"],
)
def test_a_long_string_anywhere_is_a_400_that_shows_it(
    body: object, code: str, message: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse(body)
    assert (raised.value.code, raised.value.message) == (code, message)


@pytest.mark.parametrize(
    ("text", "shown"),
    [("a" * 20, '"' + "a" * 20 + '"'), ("a" * 21, '"' + "a" * 17 + '..."')],
    ids=["20-shown-whole", "21-cut"],
)
def test_a_string_is_shown_whole_up_to_20_characters(text: str, shown: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse({"features": text})
    assert raised.value.message.endswith(f"got string {shown}")


SIX = {k: 1 for k in "abcdef"}
FEATURES = "sepal_length, sepal_width, petal_length, petal_width"

EXACT = [
    (
        b"[" * 5000 + b"]" * 5000,
        "invalid_json",
        "request body is not valid JSON: nested too deeply",
    ),
    (
        b'{"features": [1, 2, 3, 4], "instances": [[1, 2, 3, 4]]}',
        "invalid_body",
        "send either 'features' or 'instances', not both",
    ),
    (
        b'{"instances": 1}',
        "invalid_features",
        "'instances' must be a list of rows, each an array of numbers or an object of named "
        'features, e.g. {"instances": [[5.1, 3.5, 1.4, 0.2]]}',
    ),
    (
        json.dumps(SIX).encode(),
        "missing_features",
        "request body has no 'features' (or 'instances') field (keys: 'a', 'b', 'c', 'd', 'e'); "
        f"send e.g. {request.EXAMPLE}",
    ),
    (
        b'{"features": [1, 2, 3]}',
        "wrong_feature_count",
        f"features has 3 values; the model expects 4: {FEATURES}",
    ),
    (
        json.dumps({"instances": [NAMED_SETOSA, [1, 2, 3]]}).encode(),
        "wrong_feature_count",
        f"instances[1] has 3 values; the model expects 4: {FEATURES}",
    ),
    (
        json.dumps({"features": SIX}).encode(),
        "unknown_feature",
        f"features has unknown feature 'a', 'b', 'c', 'd', 'e'; the model's features are {FEATURES}",
    ),
    (
        b'{"features": {"sepal_length": 1, "sepal_width": 2}}',
        "missing_feature",
        "features is missing feature petal_length, petal_width",
    ),
    (
        b'{"features": [' + b"9" * 400 + b", 1, 2, 3]}",
        "value_out_of_range",
        "features[0] (sepal_length) is an integer of 400 digits, outside the range the model "
        "computes in: -3.4028235e+38 to 3.4028235e+38 (float32)",
    ),
]


@pytest.mark.parametrize(
    ("body", "code", "message"), EXACT, ids=[f"{c}-{i}" for i, (_, c, _) in enumerate(EXACT)]
)
def test_the_message_says_exactly_what_is_wrong(body: bytes, code: str, message: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_rows(body, NAMES, max_rows=1000)
    assert (raised.value.code, raised.value.message) == (code, message)
