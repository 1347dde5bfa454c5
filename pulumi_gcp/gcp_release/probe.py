"""HTTP checks of one revision through its own URL, and the canary's synthetic traffic.

The checks are `make verify`'s (ops/verify.py) against the model the revision's own bundle
holds: the working tree's, for a revision the release just built from it (bundles are named by
their content, so the same name is the same files), else the manifest read from that bundle in
the stack's bucket. Whatever keeps a check from being made (no answer, a timeout, a refused
token) is a failed check: a revision nobody could judge does not get traffic.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ops.auth import NO_AUTH, BearerToken, RequestAuth
from ops.checks import CheckResult, ExpectedModel, check_health, check_model_identity
from ops.errors import CannotRun
from ops.http_client import HttpClient
from ops.reference import Reference
from ops.targets import Target
from ops.verify import DEFAULT_P99_MS, http_checks

# Warm requests for the latency check through the tag URL: enough for a p99 of a few ms' spread,
# few enough that the check stays well under a minute.
CHECK_REQUESTS = 20
TIMEOUT_SECONDS = 30.0
JSON = "application/json"


@dataclass(frozen=True)
class Expected:
    """What a revision must serve: the model its bundle holds (`model`), and, when its bundle is
    the working tree's, that model's reference predictions (`reference`)."""

    model: ExpectedModel | None
    reference: Reference | None = None
    source: str = ""  # where the expectation comes from, for the output

    @classmethod
    def from_reference(cls, reference: Reference, source: str) -> Expected:
        model = ExpectedModel(reference.name, reference.version, reference.sha256)
        return cls(model, reference, source)

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any], source: str) -> Expected:
        hashes = {k: str(v["sha256"]) for k, v in manifest.get("artifacts", {}).items()}
        model = ExpectedModel(str(manifest["name"]), str(manifest["version"]), hashes)
        return cls(model, None, source)


Tokens = Callable[[str], RequestAuth]


def no_tokens(_: str) -> RequestAuth:
    return NO_AUTH


class Prober:
    """`tokens(url)` authorises a request to `url` (identity tokens for a private function)."""

    def __init__(
        self,
        tokens: Tokens = no_tokens,
        *,
        p99_ms: float = DEFAULT_P99_MS,
        timeout: float = TIMEOUT_SECONDS,
    ):
        self.tokens, self.p99_ms, self.timeout = tokens, p99_ms, timeout

    def check(self, url: str, expected: Expected) -> list[CheckResult]:
        """With a reference, every `make verify` check; else health and identity only."""
        try:
            auth = self.tokens(url)
            with HttpClient(url, auth=auth, timeout=self.timeout) as client:
                if expected.reference is not None and expected.model is not None:
                    target = Target("url", url, client.base_url, auth)
                    return http_checks(
                        client,
                        target,
                        expected.reference,
                        expected.model,
                        CHECK_REQUESTS,
                        self.p99_ms,
                    )
                health = client.request("GET", "/health")
                results = [check_health(health)]
                if expected.model is not None:
                    results.append(check_model_identity(health, expected.model))
                return results
        except (CannotRun, OSError) as exc:
            return [CheckResult("reachable", False, f"{url}: {exc}")]

    def predict(self, url: str, reference: Reference) -> str | None:
        """One synthetic prediction of the first reference case; what was wrong, or None."""
        case = reference.cases[0]
        body = json.dumps({"features": list(case.features)}).encode()
        try:
            with HttpClient(url, auth=self.tokens(url), timeout=self.timeout) as client:
                answer = client.request("POST", "/predict", body, content_type=JSON)
        except (CannotRun, OSError) as exc:
            return f"no answer: {exc}"
        predictions = (answer.json() or {}).get("predictions") if answer.status == 200 else None
        label = (
            predictions[0].get("label") if isinstance(predictions, list) and predictions else None
        )
        if answer.status != 200 or label != case.label:
            return f"POST /predict answered {answer.brief()} (expected label {case.label!r})"
        return None


def bearer(token: str) -> RequestAuth:
    return BearerToken(token)
