"""openapi.yaml stays in sync with the code: routes, error codes and the bodies it really sends."""

from __future__ import annotations

import ast
import json
import re
from typing import Any

import pytest
import yaml
from functions_framework import create_app
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from handler import aws, gcp
from handler.service import ROUTES, InferenceService
from handler.settings import Settings
from tests.conftest import ROOT, SETOSA, LambdaContext, load_event

SPEC = yaml.safe_load((ROOT / "openapi.yaml").read_text())
REGISTRY = Registry().with_resource("urn:spec", Resource(contents=SPEC, specification=DRAFT202012))


def schema_validator(ref: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"urn:spec{ref}"}, registry=REGISTRY)


def response_schema_ref(path: str, status: int) -> str:
    # Each path has one operation; a 405 is documented on it, not on the method that was refused.
    [operation] = SPEC["paths"][path].values()
    response = operation["responses"][str(status)]
    if "$ref" in response:
        response = SPEC["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return response["content"]["application/json"]["schema"]["$ref"]


def test_spec_is_valid_openapi() -> None:
    validate(SPEC)


def test_spec_documents_exactly_the_routes_the_core_serves() -> None:
    documented = {(path, method.upper()) for path, ops in SPEC["paths"].items() for method in ops}
    assert documented == {(path, method) for path, method in ROUTES.items()} | {("/", "POST")}


def _codes_in_source() -> set[str]:
    codes = set()
    for module in (ROOT / "handler").glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if (
                isinstance(node, ast.keyword)
                and node.arg == "code"
                and isinstance(node.value, ast.Constant)
            ):
                codes.add(node.value.value)
            if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == [
                "code"
            ]:
                codes.add(node.value.value)  # type: ignore[attr-defined]
    return codes


def test_error_code_enum_lists_every_code_the_handler_can_send() -> None:
    documented = set(
        SPEC["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"]
    )
    assert documented == _codes_in_source()


@pytest.fixture(scope="module")
def broken_service(tmp_path_factory: pytest.TempPathFactory) -> InferenceService:
    return InferenceService.load(Settings(model_dir=tmp_path_factory.mktemp("empty")))


CASES: list[tuple[str, str, Any]] = [
    ("POST", "/predict", {"features": SETOSA}),
    ("POST", "/predict", {"instances": [SETOSA, SETOSA]}),
    ("POST", "/predict", {"features": [1, 2]}),
    ("POST", "/predict", b"{"),
    ("GET", "/predict", b""),
    ("POST", "/predict", b" " * (6 * 1024 * 1024 + 1)),
    ("POST", "/predict", {"features": [1e39, 1, 2, 3]}),
    ("POST", "/predict", {"features": [3e38] * 4}),
    ("GET", "/health", b""),
    ("POST", "/health", b""),
]


@pytest.mark.parametrize(("method", "path", "body"), CASES)
def test_real_responses_match_their_documented_schema(
    service: InferenceService, method: str, path: str, body: Any
) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = service.handle(method, path, raw).response
    schema_validator(response_schema_ref(path, response.status)).validate(response.body)


def test_unavailable_model_response_matches_its_schema(broken_service: InferenceService) -> None:
    response = broken_service.handle("GET", "/health").response
    assert response.status == 503
    schema_validator(response_schema_ref("/health", 503)).validate(response.body)


@pytest.mark.parametrize(
    "name",
    list(
        SPEC["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    ),
)
def test_documented_request_examples_are_valid_and_predict(
    service: InferenceService, name: str
) -> None:
    example = SPEC["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"][
        "examples"
    ][name]["value"]
    schema_validator("#/components/schemas/PredictRequest").validate(example)
    response = service.handle("POST", "/predict", json.dumps(example).encode()).response
    assert response.status == 200


def test_documented_schema_rejects_what_the_handler_rejects() -> None:
    validator = schema_validator("#/components/schemas/PredictRequest")
    for body in (
        {"features": SETOSA, "instances": [SETOSA]},
        {},
        {"features": "5.1"},
        {"instances": []},
    ):
        assert not validator.is_valid(body), body


def _documented_responses() -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path, operations in SPEC["paths"].items():
        for operation in operations.values():
            for status, response in operation["responses"].items():
                if "$ref" in response:
                    response = SPEC["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
                found.append((path, status, response))
    return found


def test_every_documented_response_declares_server_timing() -> None:
    missing = [
        (path, status)
        for path, status, response in _documented_responses()
        if "Server-Timing" not in response.get("headers", {})
    ]
    assert missing == []


def test_server_timing_the_adapters_send_matches_the_documented_pattern(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pattern = SPEC["components"]["headers"]["ServerTiming"]["schema"]["pattern"]
    for adapter in (aws, gcp):
        monkeypatch.setattr(adapter, "SERVICE", InferenceService.load(Settings()))  # cold again
    client = create_app(target="predict", source=str(ROOT / "main.py")).test_client()
    sent = [
        aws.lambda_handler(load_event("http_api_health"), LambdaContext())["headers"],
        aws.lambda_handler(load_event("http_api_health"), LambdaContext())["headers"],
        client.get("/health").headers,
        client.post("/", data=b"{").headers,
    ]
    timings = [headers["Server-Timing"] for headers in sent]
    assert all(re.fullmatch(pattern, timing) for timing in timings), timings
    assert ["init;dur=" in timing for timing in timings] == [True, False, True, False]
