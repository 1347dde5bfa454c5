"""Verify's checks as pure functions: answers and AWS state in, a named pass or fail out.

Nothing here sends a request or calls AWS; `ops.verify` gathers the inputs. Every detail says
what was seen, so a failed check can be acted on without rerunning anything.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ops.aws import Alarm, AliasState, ProvisionedConcurrency, Release, StackInfo
from ops.http_client import HttpResponse
from ops.reference import Reference
from ops.server_timing import ServerTiming
from ops.stats import percentile

# A stack in one of these states runs what its last deploy asked for.
STABLE_STACK_STATES = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE")


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail}


def _result(name: str, problems: Sequence[str], ok_detail: str) -> CheckResult:
    return CheckResult(name, not problems, "; ".join(problems) if problems else ok_detail)


@dataclass(frozen=True)
class ExpectedModel:
    """What the served model must be: the local manifest's name, version and artifact hashes,
    or only an artifact SHA-256 prefix pinned on the command line (--expect-sha256)."""

    name: str
    version: str
    sha256: dict[str, str]  # backend -> full hex digest
    pinned_sha256: str | None = None


def check_health(response: HttpResponse) -> CheckResult:
    body = response.json()
    if response.status != 200:
        return CheckResult("health", False, f"GET /health answered {response.brief()}")
    if not isinstance(body, dict) or body.get("status") != "ok":
        return CheckResult("health", False, f"200 but not status ok: {response.brief()}")
    return CheckResult(
        "health", True, f"200, status ok, cold_start {json.dumps(body.get('cold_start'))}"
    )


def check_model_identity(health: HttpResponse, expected: ExpectedModel) -> CheckResult:
    name = "model_identity"
    body = health.json()
    model = body.get("model") if isinstance(body, dict) and health.status == 200 else None
    if not isinstance(model, dict):
        return CheckResult(name, False, f"no model in /health: {health.brief()}")
    served = {k: str(model.get(k)) for k in ("name", "version", "sha256", "backend")}
    shown = f"{served['name']} {served['version']}, {served['backend']} sha256 {served['sha256']}"
    if expected.pinned_sha256 is not None:
        if not _same_prefix(served["sha256"], expected.pinned_sha256):
            return CheckResult(
                name, False, f"serves {shown}; expected sha256 {expected.pinned_sha256}"
            )
        return CheckResult(name, True, f"{shown} (--expect-sha256)")
    problems = [
        f"{key} {served[key]!r}, manifest has {want!r}"
        for key, want in (("name", expected.name), ("version", expected.version))
        if served[key] != want
    ]
    local = expected.sha256.get(served["backend"])
    if local is None:
        problems.append(f"backend {served['backend']!r} is not in the manifest")
    elif not _same_prefix(served["sha256"], local) or len(served["sha256"]) < 12:
        problems.append(f"{served['backend']} sha256 {served['sha256']}, manifest has {local[:12]}")
    return _result(name, problems, f"{shown} = local manifest")


def check_store_version(health: HttpResponse, version: str, uri: str) -> CheckResult:
    """A store model serves the version its pointer names, from the store."""
    name = "store_version"
    body = health.json()
    model = body.get("model") if isinstance(body, dict) and health.status == 200 else None
    if not isinstance(model, dict):
        return CheckResult(name, False, f"no model in /health: {health.brief()}")
    served = f"serves {model.get('version')} from its {model.get('source')}"
    if model.get("source") != "store":
        return CheckResult(name, False, f"{served}, but {uri} is its model store")
    if model.get("version") != version:
        return CheckResult(
            name,
            False,
            f"{served}, but {uri}/current.json names {version}: a promotion not released yet "
            f"(deploy it), or a release of {version} that rolled back (promote "
            f"{model.get('version')} again, or fix {version})",
        )
    return CheckResult(name, True, f"{served}: the version {uri}/current.json names")


def _same_prefix(a: str, b: str) -> bool:
    n = min(len(a), len(b))
    return n > 0 and a[:n].lower() == b[:n].lower()


def check_reference(response: HttpResponse, reference: Reference) -> CheckResult:
    name = "reference_predictions"
    if response.status != 200:
        return CheckResult(name, False, f"POST /predict answered {response.brief()}")
    comparison = reference.compare(response.json())
    return _result(
        name,
        comparison.problems,
        f"{len(reference.cases)} rows: labels identical, probabilities within "
        f"{comparison.max_abs_diff:.1e} (tolerance {reference.tolerance:.0e})",
    )


def check_error(
    name: str, response: HttpResponse, *, status: int, code: str, allow: str | None = None
) -> CheckResult:
    """The handler's JSON error with the documented status and code (and, for a 405, an `Allow`
    header that lists the method the route takes)."""
    got_code = response.error_code()
    problems = []
    if response.status != status or got_code != code:
        problems.append(f"expected {status} {code}, got {response.brief()}")
        body = response.json()
        if isinstance(body, dict) and set(body) == {"message"}:
            # API Gateway's own answer: no route sent this request to the function.
            problems.append("answered by the API gateway, not the handler")
    listed = [m.strip() for m in (response.header("Allow") or "").split(",")]
    if allow is not None and allow not in listed:
        problems.append(f"Allow header {response.header('Allow')!r} does not list {allow}")
    shown = f"{status} {code}" + (f", Allow: {allow}" if allow else "")
    return _result(name, problems, shown)


def check_body_accepted(response: HttpResponse, limit: int) -> CheckResult:
    """A body of exactly the limit /health reports must still be served."""
    name = "max_body_accepted"
    if response.status != 200:
        return CheckResult(name, False, f"a {limit}-byte body answered {response.brief()}")
    return CheckResult(name, True, f"a {limit}-byte body (the reported limit) answered 200")


def check_server_timing(responses: Sequence[HttpResponse]) -> CheckResult:
    """Every answer of the handler carries `Server-Timing: handler;dur=...` (the probe needs it)."""
    timings = [ServerTiming.from_header(r.header("Server-Timing")) for r in responses]
    handler = [t.handler_ms for t in timings if t.handler_ms is not None]
    missing = len(timings) - len(handler)
    if missing:
        return CheckResult(
            "server_timing",
            False,
            f"{missing} of {len(timings)} answers carry no 'Server-Timing: handler;dur=' "
            "(the probe cannot tell cold from warm without it)",
        )
    return CheckResult(
        "server_timing",
        True,
        f"{len(timings)} answers carry handler;dur (p50 {percentile(handler, 50):.2f} ms in the "
        f"handler); {sum(t.cold for t in timings)} cold (init;dur)",
    )


def check_latency(
    responses: Sequence[HttpResponse], threshold_ms: float, *, throttled: int = 0
) -> CheckResult:
    """p50 and p99, end to end, of the warm answers stay under the alarm's p99 threshold.
    `throttled` 429s were waited out before these answers: worth knowing, not a failure."""
    name = "latency"
    failed = [r for r in responses if r.status != 200]
    if failed:
        return CheckResult(
            name, False, f"{len(failed)} of {len(responses)} answered {failed[0].brief()}"
        )
    warm = [
        r.elapsed_ms
        for r in responses
        if not ServerTiming.from_header(r.header("Server-Timing")).cold
    ]
    if not warm:
        return CheckResult(name, False, f"none of {len(responses)} answers was warm")
    p50, p99 = percentile(warm, 50), percentile(warm, 99)
    shown = f"{len(warm)} warm requests: p50 {p50:.1f} ms, p99 {p99:.1f} ms end to end"
    if throttled:
        shown += f" (waited out {throttled} throttling 429s)"
    over = [
        f"{label} {value:.1f} ms"
        for label, value in (("p50", p50), ("p99", p99))
        if value >= threshold_ms
    ]
    if over:
        return CheckResult(
            name, False, f"{shown}; {' and '.join(over)} not under {threshold_ms:g} ms"
        )
    return CheckResult(name, True, f"{shown} (under {threshold_ms:g} ms)")


def check_stack_status(stack: StackInfo) -> CheckResult:
    if stack.status in STABLE_STACK_STATES:
        return CheckResult("stack_status", True, stack.status)
    reason = f": {stack.status_reason}" if stack.status_reason else ""
    return CheckResult(
        "stack_status", False, f"{stack.status}{reason} (the last deploy did not complete)"
    )


@dataclass(frozen=True)
class ReleaseState:
    """What a model's release left in Lambda and CodeDeploy: `live`, the version the stack
    published for the function (None: the stack names none), its provisioned concurrency and
    the group's last deployment (None: none, or unreadable)."""

    alias: AliasState
    stack_version: str | None
    provisioned: Sequence[ProvisionedConcurrency]
    release: Release | None


def settling(state: ReleaseState) -> str | None:
    """Why `live` may still change on its own, or None once it has settled.

    A deployment in progress shifts traffic (a canary holds 10% on the new version for its
    interval). After the last shift Lambda may keep routing weights until the new version's
    provisioned concurrency is allocated (IN_PROGRESS), then drops them. Each passes without
    anyone acting; a FAILED allocation does not, and is no reason to wait."""
    release = state.release
    if release is not None and release.running:
        target = f" to version {release.target_version}" if release.target_version else ""
        return f"CodeDeploy deployment {release.deployment_id} is {release.status}{target}"
    if state.alias.weights:
        return f"live routes {_routing(state.alias)}"
    pending = [c for c in state.provisioned if c.status == "IN_PROGRESS"]
    if pending:
        return "provisioned concurrency " + ", ".join(
            f"{c.qualifier} IN_PROGRESS ({c.allocated}/{c.requested} allocated)" for c in pending
        )
    return None


def _routing(alias: AliasState) -> str:
    shares = ", ".join(f"{w:.0%} to version {v}" for v, w in sorted(alias.weights.items()))
    return f"{1 - sum(alias.weights.values()):.0%} to version {alias.version}, {shares}"


def check_live_alias(state: ReleaseState, function_name: str, waited: float = 0) -> CheckResult:
    """`live` serves, alone, the version the stack published: not the newest version (a
    rolled-back release may have left a newer one), and not mid-shift."""
    name = "live_alias"
    alias, published = state.alias, state.stack_version
    if not alias.exists:
        return CheckResult(name, False, f"{function_name} has no alias 'live'")
    shown = f"live -> version {alias.version}"
    after = f" after waiting {waited:.0f} s" if waited else ""
    if alias.weights:
        return CheckResult(
            name, False, f"live routes {_routing(alias)}{after}: the release has not settled"
        )
    if published is None:
        return CheckResult(
            name, False, f"{shown}, but the stack names no version of {function_name}"
        )
    if alias.version != published:
        moved = (
            "moved back outside a deploy (a manual rollback, README 'Releasing on AWS'?): fix "
            "forward with a revert and make deploy-aws, which releases it as a new version"
            if alias.version is not None and _older(alias.version, published)
            else "moved outside a deploy"
        )
        return CheckResult(
            name, False, f"{shown}, but the stack published version {published}: live was {moved}"
        )
    detail = f"{shown}, the version the stack published" + (
        f" (settled after {waited:.0f} s)" if waited else ""
    )
    release = state.release
    if release is not None and release.status in ("Failed", "Stopped"):
        target = f" of version {release.target_version}" if release.target_version else ""
        reason = f": {release.message}" if release.message else ""
        detail += f"; the last release {release.deployment_id}{target} rolled back{reason}"
    return CheckResult(name, True, detail)


def _older(version: str, than: str) -> bool:
    return version.isdigit() and than.isdigit() and int(version) < int(than)


def check_provisioned_concurrency(configs: Sequence[ProvisionedConcurrency]) -> CheckResult:
    name = "provisioned_concurrency"
    if not configs:
        return CheckResult(name, True, "none configured")
    problems = [
        f"{c.qualifier} {c.status} ({c.allocated}/{c.requested} allocated)"
        + (f": {c.reason}" if c.reason else "")
        for c in configs
        if c.status != "READY"
    ]
    ready = ", ".join(
        f"{c.qualifier} READY ({c.allocated}/{c.requested})" for c in configs if c.status == "READY"
    )
    return _result(name, problems, ready)


def check_alarms(alarms: Sequence[Alarm], prefix: str) -> CheckResult:
    name = "alarms"
    if not alarms:
        return CheckResult(
            name, False, f"no alarm is named {prefix}*: are the stack's alarms deployed?"
        )
    firing = [f"{a.name} is in ALARM: {a.reason}" for a in alarms if a.state == "ALARM"]
    states = {s: sum(a.state == s for a in alarms) for s in sorted({a.state for a in alarms})}
    counts = ", ".join(f"{n} {s}" for s, n in states.items())
    return _result(name, firing, f"{len(alarms)} alarms: {counts}")
