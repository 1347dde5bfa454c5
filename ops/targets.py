"""Turn `--url`, `--stack` or `--pulumi-stack` (and `--model`, and the auth options) into one
`Target`: a base URL, how to authorise requests to it, and for an AWS stack what else verify
may inspect.

A deployment says which models it serves: the stack output `Models` (AWS: names,
comma-separated, with `PrimaryModel` naming the one in model/) or `models` (GCP: name ->
{"url", ...}). `--model` chooses one; a deployment serving a single model needs none. On AWS the
primary model has the stack's own routes, outputs and alarms (`/predict`, `FunctionName`,
`<stack>-errors`); any other model its own (`<ApiUrl>models/<name>/`, `<Name>FunctionName`,
`<stack>-<name>-...`), as model/catalog.py's naming rule says (docs/fork.md).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from ops.auth import NO_AUTH, BearerToken, RequestAuth, SigV4
from ops.aws import ALARM_SEPARATOR, StackInfo, aws_session, credentials, describe_stack, region_of
from ops.errors import CannotRun
from ops.gcp import gcloud_identity_token, pulumi_stack_outputs
from ops.http_client import HttpClient, normalise_base_url

# https://{api-id}.execute-api.{region}.amazonaws.com (and .amazonaws.com.cn)
_EXECUTE_API_HOST = re.compile(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")
# The stack's own alarms, shared by every model (stacks/monitoring.py: `<stack>-api-5xx`).
API_ALARMS = "api-"

SessionFactory = Callable[..., Any]


@dataclass(frozen=True)
class Target:
    kind: str  # url | stack | pulumi-stack
    name: str
    base_url: str
    auth: RequestAuth
    stack: StackInfo | None = None  # --stack only
    session: Any = None  # the boto3 session --stack was read with
    model: str | None = None  # --model
    # --stack: whether the model is the stack's primary one, and the other models it serves
    # (whose alarms are not this model's)
    primary: bool = True
    others: tuple[str, ...] = ()
    # A store model's folder in its model store (--store, or the deployment's output).
    store: str | None = None

    @property
    def route_prefix(self) -> str:
        """Where the model's routes are on a stack's API (the function's ROUTE_PREFIX)."""
        return "" if self.primary else f"/models/{self.model}"

    def output_key(self, key: str) -> str:
        """A per-model output of the stack: `FunctionName` for the primary model,
        `WineFunctionName` for another (its title, as model/catalog.py's ModelEntry.title)."""
        return ("" if self.primary else (self.model or "").capitalize()) + key

    def output(self, key: str) -> str:
        assert self.stack is not None
        return self.stack.output(self.output_key(key))

    def owns_alarm(self, name: str) -> bool:
        """This model's alarms and the API's (`<stack>-api-...`), none of the other models'."""
        assert self.stack is not None
        if not name.startswith(self.stack.name + ALARM_SEPARATOR):
            return False
        concern = name[len(self.stack.name + ALARM_SEPARATOR) :]
        if concern.startswith(API_ALARMS) or (
            not self.primary and concern.startswith(f"{self.model}-")
        ):
            return True
        # The primary model's alarms carry no model name: those left once every other
        # model's (`<name>-...`) are set aside.
        return self.primary and not any(concern.startswith(o + "-") for o in self.others)

    def client(self, timeout: float, *, retry_throttled: int = 0) -> HttpClient:
        return HttpClient(
            self.base_url, auth=self.auth, timeout=timeout, retry_throttled=retry_throttled
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "url": self.base_url,
            "auth": self.auth.name,
            "model": self.model,
        }

    def describe(self) -> str:
        where = (
            self.base_url if self.kind == "url" else f"{self.kind} {self.name} ({self.base_url})"
        )
        model = f", model {self.model}" if self.model else ""
        return f"{where}{model}, auth {self.auth.name}"


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
    return Target("url", args.url, base_url, auth, model=args.model, store=args.store)


def _aws_stack(
    args: argparse.Namespace, bearer: BearerToken | None, session_factory: SessionFactory
) -> Target:
    session = session_factory(profile=args.profile, region=args.region)
    credentials(session)  # fail on missing credentials before any call
    stack = describe_stack(session, args.stack)
    served = [name.strip() for name in stack.outputs.get("Models", "").split(",") if name.strip()]
    model = _chosen_model(args.model, served, f"stack {args.stack}")
    # A stack without `Models` predates several models: its one model is the primary one.
    primary = not served or stack.outputs.get("PrimaryModel") == model
    api_url = normalise_base_url(stack.output("ApiUrl"))
    api_auth = stack.outputs.get("ApiAuth", "none")
    auth: RequestAuth
    if args.sigv4 or api_auth == "iam":
        auth = SigV4(credentials(session), _execute_api_region(api_url) or stack.region)
    elif api_auth == "jwt" and bearer is None:
        raise CannotRun(
            f"the API of stack {args.stack} requires a JWT (ApiAuth=jwt): pass --id-token TOKEN"
        )
    else:
        auth = bearer or NO_AUTH
    target = Target(
        "stack",
        args.stack,
        api_url,
        auth,
        stack=stack,
        session=session,
        model=model,
        primary=primary,
        others=tuple(name for name in served if name != model),
    )
    # The model's routes and its outputs (`WineModelStore`), where the naming rule puts them
    return replace(
        target,
        base_url=api_url + target.route_prefix,
        store=args.store or stack.outputs.get(target.output_key("ModelStore")),
    )


def _pulumi_stack(args: argparse.Namespace, bearer: BearerToken | None) -> Target:
    if args.sigv4:
        raise CannotRun("--sigv4 signs AWS requests; a --pulumi-stack is a Cloud Function")
    outputs = pulumi_stack_outputs(args.pulumi_stack)
    # Every model has its own function and URL, in outputs["models"][name]["url"] (a stack
    # deployed before the program exported `models` has its one model's at the top level).
    served = outputs["models"] if isinstance(outputs.get("models"), dict) else {}
    model = _chosen_model(args.model, sorted(served), f"Pulumi stack {args.pulumi_stack}")
    found = served[model] if served else outputs
    url = found.get("url") if isinstance(found, dict) else None
    if not isinstance(url, str) or not url:
        where = f"'url' for model {model} in its 'models' output" if served else "'url' output"
        keys = ", ".join(sorted(found)) if isinstance(found, dict) else ""
        raise CannotRun(
            f"Pulumi stack {args.pulumi_stack} has no {where} (outputs: {keys or 'none'}); "
            "has it been deployed?"
        )
    base_url = normalise_base_url(url)
    # A private function (the default) takes the caller's identity token.
    auth: RequestAuth = bearer or (
        NO_AUTH if outputs.get("public") is True else gcloud_identity_token(base_url)
    )
    store = found.get("model_store") if isinstance(found, dict) else None
    return Target(
        "pulumi-stack",
        args.pulumi_stack,
        base_url,
        auth,
        model=model,
        store=args.store or (store if isinstance(store, str) and store else None),
    )


def _chosen_model(requested: str | None, served: Sequence[str], where: str) -> str | None:
    """The model to check: `--model`, which a deployment serving several needs and must serve;
    a deployment serving one model serves that one."""
    if not served:
        return requested
    names = ", ".join(served)
    if requested is None:
        if len(served) == 1:
            return served[0]
        raise CannotRun(f"{where} serves several models ({names}): choose one with --model NAME")
    if requested not in served:
        raise CannotRun(f"{where} serves no model {requested!r}; it serves {names}")
    return requested


def _execute_api_region(base_url: str) -> str | None:
    match = _EXECUTE_API_HOST.search(urlsplit(base_url).hostname or "")
    return match.group(1) if match else None
