"""Turn `--url`, `--stack` or `--pulumi-stack` (and the auth options) into one `Target`: a base
URL, how to authorise requests to it, and for an AWS stack what else verify may inspect."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ops.auth import NO_AUTH, BearerToken, RequestAuth, SigV4
from ops.aws import StackInfo, aws_session, credentials, describe_stack, region_of
from ops.errors import CannotRun
from ops.gcp import gcloud_identity_token, pulumi_stack_outputs
from ops.http_client import HttpClient, normalise_base_url

# https://{api-id}.execute-api.{region}.amazonaws.com (and .amazonaws.com.cn)
_EXECUTE_API_HOST = re.compile(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")

SessionFactory = Callable[..., Any]


@dataclass(frozen=True)
class Target:
    kind: str  # url | stack | pulumi-stack
    name: str
    base_url: str
    auth: RequestAuth
    stack: StackInfo | None = None  # --stack only
    session: Any = None  # the boto3 session --stack was read with

    def client(self, timeout: float, *, retry_throttled: int = 0) -> HttpClient:
        return HttpClient(
            self.base_url, auth=self.auth, timeout=timeout, retry_throttled=retry_throttled
        )

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "url": self.base_url, "auth": self.auth.name}

    def describe(self) -> str:
        where = (
            self.base_url if self.kind == "url" else f"{self.kind} {self.name} ({self.base_url})"
        )
        return f"{where}, auth {self.auth.name}"


def resolve_target(
    args: argparse.Namespace, *, session_factory: SessionFactory = aws_session
) -> Target:
    if args.sigv4 and args.id_token:
        raise CannotRun("--sigv4 and --id-token exclude each other: choose one way to authorise")
    bearer = BearerToken(args.id_token) if args.id_token else None
    if args.stack:
        return _aws_stack(args, bearer, session_factory)
    if args.pulumi_stack:
        return _pulumi_stack(args, bearer)
    base_url = normalise_base_url(args.url)
    auth: RequestAuth = bearer or NO_AUTH
    if args.sigv4:
        session = session_factory(profile=args.profile, region=args.region)
        region = _execute_api_region(base_url) or region_of(session)
        auth = SigV4(credentials(session), region)
    return Target("url", args.url, base_url, auth)


def _aws_stack(
    args: argparse.Namespace, bearer: BearerToken | None, session_factory: SessionFactory
) -> Target:
    session = session_factory(profile=args.profile, region=args.region)
    credentials(session)  # fail on missing credentials before any call
    stack = describe_stack(session, args.stack)
    base_url = normalise_base_url(stack.output("ApiUrl"))
    api_auth = stack.outputs.get("ApiAuth", "none")
    auth: RequestAuth
    if args.sigv4 or api_auth == "iam":
        auth = SigV4(credentials(session), _execute_api_region(base_url) or stack.region)
    elif api_auth == "jwt" and bearer is None:
        raise CannotRun(
            f"the API of stack {args.stack} requires a JWT (ApiAuth=jwt): pass --id-token TOKEN"
        )
    else:
        auth = bearer or NO_AUTH
    return Target("stack", args.stack, base_url, auth, stack=stack, session=session)


def _pulumi_stack(args: argparse.Namespace, bearer: BearerToken | None) -> Target:
    if args.sigv4:
        raise CannotRun("--sigv4 signs AWS requests; a --pulumi-stack is a Cloud Function")
    outputs = pulumi_stack_outputs(args.pulumi_stack)
    url = outputs.get("url")
    if not isinstance(url, str) or not url:
        raise CannotRun(
            f"Pulumi stack {args.pulumi_stack} has no 'url' output (outputs: "
            f"{', '.join(sorted(outputs)) or 'none'}); has it been deployed?"
        )
    base_url = normalise_base_url(url)
    # A private function (the default) takes the caller's identity token.
    auth: RequestAuth = bearer or (
        NO_AUTH if outputs.get("public") is True else gcloud_identity_token(base_url)
    )
    return Target("pulumi-stack", args.pulumi_stack, base_url, auth)


def _execute_api_region(base_url: str) -> str | None:
    match = _EXECUTE_API_HOST.search(urlsplit(base_url).hostname or "")
    return match.group(1) if match else None
