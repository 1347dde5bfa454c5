"""How requests to a target are authorised: nothing, a bearer token, or AWS SigV4.

Each scheme turns a request about to be sent into the headers to add; signing happens before
the latency clock starts, so it never counts as the target's time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


class RequestAuth(Protocol):
    @property
    def name(self) -> str:
        """Shown in reports: none, bearer or sigv4."""
        ...

    def headers(
        self, method: str, url: str, body: bytes, headers: Mapping[str, str]
    ) -> dict[str, str]:
        """Headers to add to this request."""
        ...


@dataclass(frozen=True)
class NoAuth:
    name: str = "none"

    def headers(
        self, method: str, url: str, body: bytes, headers: Mapping[str, str]
    ) -> dict[str, str]:
        return {}


@dataclass(frozen=True)
class BearerToken:
    """A Google identity token (private Cloud Function) or a JWT (AWS API with auth=jwt)."""

    token: str = field(repr=False)  # never printed, never in an error message
    name: str = "bearer"

    def headers(
        self, method: str, url: str, body: bytes, headers: Mapping[str, str]
    ) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass(frozen=True)
class SigV4:
    """AWS Signature Version 4 for an API Gateway API with IAM authorization (`execute-api`).

    `credentials` are botocore credentials (a session's `get_credentials()`); refreshable ones
    are frozen afresh for every request, so a long probe outlives a temporary session token.
    """

    credentials: Any = field(repr=False)
    region: str
    service: str = "execute-api"
    name: str = "sigv4"

    def headers(
        self, method: str, url: str, body: bytes, headers: Mapping[str, str]
    ) -> dict[str, str]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
        frozen = self.credentials.get_frozen_credentials()
        SigV4Auth(frozen, self.service, self.region).add_auth(request)
        return {k: v for k, v in request.headers.items() if k not in headers}


NO_AUTH = NoAuth()
