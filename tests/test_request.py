"""Request bodies: every accepted form, and every malformed one answered with what is wrong."""

from __future__ import annotations

import json

import numpy as np
import pytest

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
