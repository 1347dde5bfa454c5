"""Is the deployment right? Health, model identity, golden predictions, the error contract and
latency against the alarm threshold; with --stack also the alias, provisioned concurrency,
alarms and the stack itself. A store model (its deployment's ModelStore output, or --store) is
compared with the version its store's pointer names, and that version's own reference.

    python -m ops.verify --url http://127.0.0.1:8080
    python -m ops.verify --stack SklearnInference-dev [--region eu-west-1]
    python -m ops.verify --pulumi-stack dev [--id-token TOKEN]
    python -m ops.verify --stack SklearnInference-prod --model wine   # one of several models

With --stack, verify first waits (up to --settle-timeout) for the model's release to settle:
a CodeDeploy deployment still shifting traffic, or `live` still weighted while Lambda allocates
the new version's provisioned concurrency, passes on its own. Then every check runs against what
`live` serves, which must be the version the stack published.

Exit status: 0 every check passed, 1 a check failed (the output names it), 2 the checks could
not run (usage, connection, credentials), with one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ops import aws
from ops.checks import (
    CheckResult,
    ExpectedModel,
    ReleaseState,
    check_alarms,
    check_body_accepted,
    check_error,
    check_health,
    check_latency,
    check_live_alias,
    check_model_identity,
    check_provisioned_concurrency,
    check_reference,
    check_server_timing,
    check_stack_status,
    check_store_version,
    settling,
)
from ops.cli import (
    EXIT_FAILED,
    EXIT_PASSED,
    OneLineErrorParser,
    add_target_arguments,
    local_artifacts,
    positive_float,
    positive_int,
    run_cli,
)
from ops.errors import CannotRun
from ops.http_client import HttpClient, HttpResponse
from ops.model_store import Pointed, pointed_version
from ops.reference import Reference, load_reference
from ops.report import render_checks, verdict
from ops.targets import SessionFactory, Target, resolve_target

JSON = "application/json"
# The alarm on Lambda Duration p99 (stacks/monitoring.py) and the GCP latency policy.
DEFAULT_P99_MS = 1000.0
DEFAULT_REQUESTS = 50
# API Gateway stages throttle (dev: 10 req/s, burst 20); verify waits a 429 out rather than
# report the gateway's limit as the deployment's failure.
THROTTLE_RETRIES = 4
# After a deploy, Lambda may take a minute or two to allocate a new version's provisioned
# concurrency, keeping `live` weighted meanwhile; a CodeDeploy canary runs for its interval.
DEFAULT_SETTLE_SECONDS = 300.0
SETTLE_POLL_SECONDS = 15.0
Sleep = Callable[[float], None]


def build_parser() -> OneLineErrorParser:
    parser = OneLineErrorParser(
        prog="verify",
        description="Check that a deployment serves the committed model correctly and in time.",
        epilog="Exit status: 0 all checks passed, 1 a check failed, 2 could not run.",
    )
    add_target_arguments(parser)
    checks = parser.add_argument_group("checks")
    checks.add_argument(
        "--model-dir",
        type=Path,
        metavar="DIR",
        help="manifest.json and reference.json to compare with (default: --model's artifacts, "
        "else model/artifacts)",
    )
    checks.add_argument(
        "--expect-sha256",
        type=_sha256_prefix,
        metavar="HEX",
        help="expect this artifact SHA-256 (or a prefix of 6+ hex digits) instead of the manifest",
    )
    checks.add_argument(
        "--requests",
        type=positive_int(10_000),
        default=DEFAULT_REQUESTS,
        metavar="N",
        help=f"warm requests for the latency check (default {DEFAULT_REQUESTS})",
    )
    checks.add_argument(
        "--p99-ms",
        type=positive_float,
        default=DEFAULT_P99_MS,
        metavar="MS",
        help="p50 and p99 end to end must stay under this (default 1000, the alarm threshold)",
    )
    checks.add_argument(
        "--settle-timeout",
        type=_non_negative_float,
        default=DEFAULT_SETTLE_SECONDS,
        metavar="S",
        help="with --stack: wait up to S seconds for a release still shifting or allocating "
        f"provisioned concurrency to settle (default {DEFAULT_SETTLE_SECONDS:g}; 0: do not wait)",
    )
    return parser


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text!r}")
    return value


def _sha256_prefix(text: str) -> str:
    if not re.fullmatch(r"[0-9a-fA-F]{6,64}", text):
        raise argparse.ArgumentTypeError(f"not 6 to 64 hex digits: {text!r}")
    return text.lower()


def main(
    argv: Sequence[str] | None = None,
    *,
    session_factory: SessionFactory = aws.aws_session,
    sleep: Sleep = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    return run_cli(build_parser(), argv, lambda args: _run(args, session_factory, sleep, clock))


def _run(
    args: argparse.Namespace,
    session_factory: SessionFactory,
    sleep: Sleep,
    clock: Callable[[], float],
) -> int:
    # The target says which model it serves (a deployment of one model needs no --model), then
    # the files to compare with: a store model's are the version its pointer names, in the store;
    # any other's are local (a stale reference is the user's to fix before any request is sent).
    target = resolve_target(args, session_factory=session_factory)
    model = target.model if args.model_dir is None else args.model
    pointed = _pointed(target)
    reference = (
        pointed.version.reference
        if pointed is not None
        else load_reference(local_artifacts(model, args.model_dir))
    )
    # load_reference has held it to manifest.json: the same name, version and artifact hashes.
    expected = ExpectedModel(
        reference.name, reference.version, reference.sha256, pinned_sha256=args.expect_sha256
    )
    # The release first: the requests then judge what `live` serves once it has settled.
    settled = (
        settle(target, args.settle_timeout, sleep=sleep, clock=clock)
        if target.stack is not None
        else None
    )
    with target.client(args.timeout, retry_throttled=THROTTLE_RETRIES) as client:
        results = http_checks(
            client, target, reference, expected, args.requests, args.p99_ms, pointed
        )
    if target.stack is not None:
        results += stack_checks(target, settled)
    if args.json:
        document = {
            "target": target.to_json(),
            "passed": all(r.passed for r in results),
            "checks": [r.to_json() for r in results],
            "failed": [r.name for r in results if not r.passed],
        }
        print(json.dumps(document, indent=2))
    else:
        print(render_checks(f"verify {target.describe()}", results))
        print(verdict("verify", results))
    return EXIT_PASSED if all(r.passed for r in results) else EXIT_FAILED


def http_checks(
    client: HttpClient,
    target: Target,
    reference: Reference,
    expected: ExpectedModel,
    requests: int,
    p99_ms: float,
    pointed: Pointed | None = None,
) -> list[CheckResult]:
    health = client.request("GET", "/health")
    _refuse_on_auth_failure(health, target)
    predicted = client.request("POST", "/predict", reference.request_body(), content_type=JSON)
    one_row = json.dumps({"features": list(reference.cases[0].features)}).encode()
    short_row = json.dumps({"features": list(reference.cases[0].features[:-1])}).encode()

    results = [
        check_health(health),
        check_model_identity(health, expected),
        *([check_store_version(health, pointed.pointer.version, pointed.uri)] if pointed else []),
        check_reference(predicted, reference),
        check_error(
            "error_invalid_json",
            client.request("POST", "/predict", one_row[:-3], content_type=JSON),
            status=400,
            code="invalid_json",
        ),
        check_error(
            "error_wrong_feature_count",
            client.request("POST", "/predict", short_row, content_type=JSON),
            status=400,
            code="wrong_feature_count",
        ),
        check_error(
            "error_not_found",
            client.request("GET", "/no-such-route"),
            status=404,
            code="not_found",
        ),
        check_error(
            "error_method_not_allowed",
            client.request("GET", "/predict"),
            status=405,
            code="method_not_allowed",
            allow="POST",
        ),
        *_body_limit_checks(client, health, one_row),
    ]
    timed = [
        client.request("POST", "/predict", one_row, content_type=JSON) for _ in range(requests)
    ]
    results.append(check_server_timing([health, predicted, *timed]))
    results.append(check_latency(timed, p99_ms, throttled=client.throttled))
    return results


def _pointed(target: Target) -> Pointed | None:
    """A store model's pointed version (ops/model_store.py); None for an image model."""
    return None if target.store is None else pointed_version(target.store, target.session)


def _body_limit_checks(
    client: HttpClient, health: HttpResponse, one_row: bytes
) -> list[CheckResult]:
    """413 just over the limit /health reports, and 200 exactly at it (so it is the real one)."""
    limit = _reported_body_limit(health)
    if limit is None:
        seen = "no limits.max_body_bytes" if health.status == 200 else health.brief()
        return [
            CheckResult("error_payload_too_large", False, f"cannot test: /health answered {seen}")
        ]
    # A valid request padded with JSON whitespace: only its size can make it fail.
    results = [
        check_error(
            "error_payload_too_large",
            client.request("POST", "/predict", _padded(one_row, limit + 1), content_type=JSON),
            status=413,
            code="payload_too_large",
        )
    ]
    if limit >= len(one_row):
        at_limit = client.request("POST", "/predict", _padded(one_row, limit), content_type=JSON)
        results.append(check_body_accepted(at_limit, limit))
    return results


def _reported_body_limit(health: HttpResponse) -> int | None:
    body = health.json()
    limits = body.get("limits") if isinstance(body, dict) else None
    value = limits.get("max_body_bytes") if isinstance(limits, dict) else None
    return value if type(value) is int and value > 0 else None


def _padded(body: bytes, size: int) -> bytes:
    return body + b" " * (size - len(body)) if size >= len(body) else b" " * size


def _refuse_on_auth_failure(health: HttpResponse, target: Target) -> None:
    # The handler never answers 401 or 403: these come from the platform in front of it.
    if health.status not in (401, 403):
        return
    hint = {
        "none": "the target needs credentials: --id-token (a private Cloud Function, or "
        "auth=jwt on AWS) or --sigv4 (auth=iam on AWS)",
        "bearer": "the token was refused: expired, for another audience, or its account lacks "
        "roles/run.invoker",
        "sigv4": "the signature was refused: the credentials lack execute-api:Invoke on this "
        "API, or --region does not match it",
    }[target.auth.name]
    raise CannotRun(f"GET {target.base_url}/health answered {health.status}: {hint}")


def release_state(target: Target) -> ReleaseState:
    """The model's `live` alias, the version its stack published, its provisioned concurrency
    and its deployment group's last release."""
    assert target.stack is not None
    function = target.output("FunctionName")
    outputs = target.stack.outputs
    application = outputs.get(target.output_key("CodeDeployApplication"))
    group = outputs.get(target.output_key("CodeDeployDeploymentGroup"))
    return ReleaseState(
        alias=aws.live_alias(target.session, function),
        stack_version=aws.stack_versions(target.session, target.stack.name).get(function),
        provisioned=aws.provisioned_concurrency(target.session, function),
        release=aws.last_release(target.session, application, group)
        if application and group
        else None,
    )


def settle(
    target: Target,
    timeout: float,
    *,
    sleep: Sleep = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[ReleaseState, float]:
    """The release state once nothing is left to settle, or as it is after `timeout` seconds;
    and how long that took."""
    started = clock()
    while True:
        state = release_state(target)
        waited = clock() - started
        reason = settling(state)
        if reason is None or waited >= timeout:
            return state, waited
        print(
            f"verify: waiting for the release to settle ({waited:.0f} s): {reason}", file=sys.stderr
        )
        sleep(min(SETTLE_POLL_SECONDS, timeout - waited))


def stack_checks(
    target: Target, settled: tuple[ReleaseState, float] | None = None
) -> list[CheckResult]:
    """The stack's status; the model's alias and provisioned concurrency (as `settle` left
    them, or read now); the stack's alarms but those of the other models it serves."""
    assert target.stack is not None
    state, waited = settled or (release_state(target), 0.0)
    alarms = aws.stack_alarms(target.session, target.stack.name)
    return [
        check_stack_status(target.stack),
        check_live_alias(state, target.output("FunctionName"), waited),
        check_provisioned_concurrency(state.provisioned),
        check_alarms(
            [alarm for alarm in alarms if target.owns_alarm(alarm.name)],
            target.stack.name + aws.ALARM_SEPARATOR,
        ),
    ]


if __name__ == "__main__":
    sys.exit(main())
