"""Property-based: no body, however malformed, yields a 5xx or an exception, and the handler
keeps serving correctly afterwards."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

import pytest
from functions_framework import create_app
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from handler import aws
from handler.service import InferenceService
from tests.conftest import ROOT, SETOSA, LambdaContext, load_event

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=30,
)
feature_like = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=4),
    st.lists(st.floats(), max_size=5),
)
# Bodies shaped almost like real requests reach the deeper validation paths.
near_valid = st.fixed_dictionaries(
    {},
    optional={
        "features": st.one_of(
            st.lists(feature_like, max_size=6),
            st.lists(st.lists(feature_like, max_size=6), max_size=4),
            st.dictionaries(
                st.sampled_from(
                    ["sepal_length", "sepal_width", "petal_length", "petal_width", "x"]
                ),
                feature_like,
            ),
            json_values,
        ),
        "instances": json_values,
    },
)


def encode(value: Any) -> bytes:
    # allow_nan: Python writes NaN/Infinity literals, which the handler must refuse cleanly.
    return json.dumps(value, allow_nan=True).encode()


def assert_answer_shape(
    method: str, status: int, headers: Mapping[str, str], body: bytes | str
) -> None:
    """The contract for every kind of answer: an OPTIONS on a route is 204 with `Allow` and no
    content; HEAD carries no body; everything else is a JSON object with its Content-Type."""
    assert 200 <= status < 500
    if status == 204:
        assert method.upper() == "OPTIONS"
        assert "OPTIONS" in headers["Allow"].split(", ")
        assert not body
        assert "Content-Type" not in headers
    elif method.upper() != "HEAD":
        assert headers["Content-Type"] == "application/json"
        assert isinstance(json.loads(body), dict)


def assert_still_serves(service: InferenceService) -> None:
    outcome = service.handle("POST", "/predict", json.dumps({"features": SETOSA}).encode())
    assert outcome.response.status == 200
    assert outcome.response.body["predictions"][0]["label"] == "setosa"


PROFILE = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@PROFILE
@given(body=st.one_of(json_values.map(encode), near_valid.map(encode), st.binary(max_size=300)))
def test_core_answers_every_body_with_2xx_or_4xx_json(
    service: InferenceService, body: bytes
) -> None:
    response = service.handle("POST", "/predict", body).response
    assert response.status == 200 or 400 <= response.status < 500
    if response.status != 200:
        assert set(response.body["error"]) == {"code", "message"}
    json.loads(response.body_bytes())  # the body always serialises as strict JSON
    assert_still_serves(service)


@PROFILE
@given(body=st.one_of(st.binary(max_size=300), near_valid.map(encode)), encoded=st.booleans())
def test_lambda_adapter_never_raises_or_answers_5xx(body: bytes, encoded: bool) -> None:
    event = load_event("http_api_predict")
    if encoded:
        event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    else:
        event["body"], event["isBase64Encoded"] = body.decode("utf-8", "surrogateescape"), False
    response = aws.lambda_handler(event, LambdaContext())
    assert 200 <= response["statusCode"] < 500
    assert isinstance(json.loads(response["body"]), dict)
    assert_still_serves(aws.SERVICE)


@PROFILE
@given(event=json_values)
def test_lambda_adapter_survives_arbitrary_events(event: Any) -> None:
    response = aws.lambda_handler(event, LambdaContext())
    assert isinstance(response, dict)
    if "statusCode" in response:
        assert 200 <= response["statusCode"] < 500


@pytest.fixture(scope="module")
def gcf_client() -> Any:
    return create_app(target="predict", source=str(ROOT / "main.py")).test_client()


@PROFILE
@given(body=st.one_of(st.binary(max_size=300), near_valid.map(encode)))
def test_cloud_function_never_answers_5xx(gcf_client: Any, body: bytes) -> None:
    response = gcf_client.post("/", data=body)
    assert 200 <= response.status_code < 500
    assert isinstance(response.get_json(), dict)
    assert (
        gcf_client.post("/", json={"features": SETOSA}).get_json()["predictions"][0]["label"]
        == "setosa"
    )


# Every float64, huge integers and the float32 boundary, in any feature.
extreme_numbers = st.one_of(
    st.floats(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.sampled_from([3.4028234663852886e38, -3.4028234663852886e38, 3.4028235e38, 1e39, 3e38]),
    st.floats(min_value=-1e39, max_value=1e39),
)


@PROFILE
@given(rows=st.lists(st.lists(extreme_numbers, min_size=4, max_size=4), min_size=1, max_size=3))
def test_a_200_never_carries_a_probability_outside_zero_and_one(
    service: InferenceService, rows: list[list[float]]
) -> None:
    response = service.handle("POST", "/predict", encode({"features": rows})).response
    assert response.status in (200, 400, 422), response.body
    if response.status == 200:
        for prediction in response.body["predictions"]:
            assert all(0.0 <= p <= 1.0 for p in prediction["probabilities"])
            assert sum(prediction["probabilities"]) == pytest.approx(1.0, abs=1e-4)
    else:
        assert response.body["error"]["code"] in (
            "non_finite_value",
            "value_out_of_range",
            "non_finite_prediction",
        )


# Any code point, lone surrogates included (hypothesis leaves them out unless asked).
any_text = st.text(st.characters(exclude_categories=()), max_size=20)


@PROFILE
@given(
    method=any_text,
    path=any_text,
    headers=st.dictionaries(any_text, any_text, max_size=3),
    extra=st.dictionaries(any_text, json_values, max_size=3),
    stage=any_text | st.none(),
)
@example(method="OPTIONS", path="/predict", headers={}, extra={}, stage=None)
@example(method="options", path="/health/", headers={}, extra={}, stage=None)
@example(method="OPTIONS", path="/nope", headers={}, extra={}, stage=None)
def test_lambda_adapter_answers_json_whatever_text_the_event_carries(
    method: str, path: str, headers: dict[str, str], extra: dict[str, Any], stage: str | None
) -> None:
    event = {**load_event("http_api_predict"), **extra, "rawPath": path, "headers": headers}
    event["requestContext"] = {"http": {"method": method, "path": path}, "stage": stage}
    response = aws.lambda_handler(event, LambdaContext())
    # strict UTF-8: no lone surrogate
    body = response["body"].encode("utf-8")
    assert_answer_shape(method, response["statusCode"], response["headers"], body)


http_token = st.text(
    st.characters(min_codepoint=33, max_codepoint=126, exclude_characters='()<>@,;:\\"/[]?={}'),
    min_size=1,
    max_size=10,
)


@PROFILE
@given(
    method=http_token,
    path=st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=30),
    header=st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=20),
)
# The function URL itself ("/") is the predict route; "nope" is no route at all.
@example(method="OPTIONS", path="", header="")
@example(method="OPTIONS", path="health", header="")
@example(method="OPTIONS", path="nope", header="")
def test_cloud_function_answers_json_for_any_method_path_and_header(
    gcf_client: Any, method: str, path: str, header: str
) -> None:
    response = gcf_client.open("/" + path, method=method, headers={"X-Anything": header})
    assert_answer_shape(method, response.status_code, response.headers, response.get_data())


@pytest.mark.parametrize(
    ("path", "status", "allow"),
    [("/", 204, "POST, OPTIONS"), ("/health", 204, "GET, HEAD, OPTIONS"), ("/nope", 404, None)],
)
def test_options_answers_allow_on_a_route_and_404_elsewhere(
    gcf_client: Any, path: str, status: int, allow: str | None
) -> None:
    response = gcf_client.open(path, method="OPTIONS")
    assert response.status_code == status
    assert response.headers.get("Allow") == allow
    if status == 404:
        assert response.get_json()["error"]["code"] == "not_found"
