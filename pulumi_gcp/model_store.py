"""The stack's model store on Cloud Storage: one private, versioned bucket holding every store
model's versions and pointer (handler/store.py), the service account each store model's function
runs as, allowed to read its own model's prefix only, and the pointers a deploy pins.

Only a stack serving a store model (models.toml `source = "store"`) has one, so the graph of a
stack of image models does not change. The bucket's name is chosen (config `modelStoreBucket`,
default `<project>-<functionName>-models`) so that `pulumi up` can read the pointers before it
creates or updates anything: what each pointer names is pinned in the function's environment,
and a promotion reaches callers only through a new revision (docs/operate.md, "Model store").

Cloud Storage encrypts every object at rest (Google-managed keys). Its JSON API, which the handler
and the tools use, accepts HTTPS only; unlike S3 (`aws:SecureTransport`) there is no bucket
setting that refuses plain HTTP on the XML API, and the bucket admits no anonymous reader. In prod
(`deletionProtection`) the bucket is protected and retained when the stack is destroyed;
otherwise destroy empties it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumiverse_time as time
from identities import RUNTIME_ROLES, role_slug
from options import children_of

import pulumi_gcp as gcp
from handler.store import Pointer, StoreError, model_prefix

# Versions of current.json (every promotion) and of any object overwritten by mistake: kept this
# long as the store's own history, then deleted.
NONCURRENT_DAYS = 365
# Service-account ids are 6 to 30 characters.
ACCOUNT_ID_MAX = 30


@dataclass(frozen=True)
class ModelStoreArgs:
    project: str
    region: str
    bucket_name: str
    function_name: str  # the stack's: a label
    retain: bool
    propagation_seconds: int


class ModelStore(pulumi.ComponentResource):
    """Exposes `bucket` and `bucket_name`; `add_reader()` gives one store model its own account."""

    def __init__(self, name: str, args: ModelStoreArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sklearn-inference:gcp:ModelStore", name, None, opts)
        self._name, self._args, self._opts = name, args, opts
        self.bucket_name = args.bucket_name
        self.bucket = gcp.storage.Bucket(
            f"{name}-bucket",
            project=args.project,
            name=args.bucket_name,
            location=args.region,
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning=gcp.storage.BucketVersioningArgs(enabled=True),
            lifecycle_rules=[
                gcp.storage.BucketLifecycleRuleArgs(
                    action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                    condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                        days_since_noncurrent_time=NONCURRENT_DAYS, with_state="ARCHIVED"
                    ),
                )
            ],
            force_destroy=not args.retain,
            labels={"app": "sklearn-inference", "function": args.function_name},
            opts=pulumi.ResourceOptions.merge(
                children_of(self, opts, protect=args.retain),
                pulumi.ResourceOptions(retain_on_delete=args.retain),
            ),
        )
        self.register_outputs({"bucket": self.bucket.name})

    def uri(self, model: str) -> str:
        """A store model's MODEL_STORE: gs://<bucket>/models/<name>."""
        return f"gs://{self.bucket_name}/{model_prefix(model)}"

    def add_reader(self, prefix: str, model: str, function_name: str) -> Reader:
        """The account a store model's function runs as: logs, metrics, and read access to its
        own model's prefix of the store (an IAM condition on the object names), nothing else."""
        args = self._args
        child = children_of(self, self._opts)
        account = gcp.serviceaccount.Account(
            f"{prefix}{self._name}-reader",
            project=args.project,
            account_id=reader_account_id(function_name),
            display_name=f"{function_name} runtime (model store)",
            description=f"Serves {function_name}: writes logs and metrics, reads "
            f"{self.uri(model)} only.",
            opts=child,
        )
        grants: list[pulumi.Resource] = [
            gcp.projects.IAMMember(
                f"{prefix}{self._name}-reader-{role_slug(role)}",
                project=args.project,
                role=role,
                member=account.member,
                opts=child,
            )
            for role in RUNTIME_ROLES
        ]
        grants.append(
            gcp.storage.BucketIAMMember(
                f"{prefix}{self._name}-reader-objects",
                bucket=self.bucket.name,
                role="roles/storage.objectViewer",
                member=account.member,
                condition=gcp.storage.BucketIAMMemberConditionArgs(
                    title=f"{model} only",
                    description=f"The objects of {self.uri(model)}",
                    expression=prefix_condition(self.bucket_name, model),
                ),
                opts=child,
            )
        )
        ready = time.Sleep(
            f"{prefix}{self._name}-reader-propagation",
            create_duration=f"{args.propagation_seconds}s",
            triggers={
                "account": account.email,
                "grants": pulumi.Output.all(*(grant.id for grant in grants)).apply(
                    lambda ids: ",".join(sorted(ids))
                ),
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*child.depends_on, *grants]),
        )
        return Reader(account, ready)


@dataclass(frozen=True)
class Reader:
    account: gcp.serviceaccount.Account
    ready: pulumi.Resource  # the function waits on it: its grants have propagated


def prefix_condition(bucket: str, model: str) -> str:
    """The IAM condition that limits a grant on the bucket to one model's objects."""
    return f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/{model_prefix(model)}/")'


def reader_account_id(function_name: str) -> str:
    """`<function>-read`, or, for a function name too long for an account id, a shortened one
    made unique by a hash of the whole name."""
    account = f"{function_name}-read"
    if len(account) <= ACCOUNT_ID_MAX:
        return account
    digest = hashlib.sha256(function_name.encode()).hexdigest()[:6]
    return f"{function_name[: ACCOUNT_ID_MAX - 12].rstrip('-')}-{digest}-read"


def default_bucket_name(project: str, function_name: str) -> str:
    """Bucket names are global: the project id makes the stack's its own."""
    return f"{project}-{function_name}-models"


def read_pointers(bucket: str, names: Sequence[str]) -> dict[str, Pointer | None]:
    """What `pulumi up` pins: each store model's pointer, read with the application-default
    credentials Pulumi's provider uses; None for every model while the bucket does not exist
    (the stack's first deploy) and for a model never promoted. Anything else stops the deploy
    with one line: a deploy that cannot read a pointer must not unpin its model."""
    from handler.store_gcs import GcsStore
    from ops.model_store import read_pointer

    try:
        store = GcsStore(bucket)
        if store.client.lookup_bucket(bucket) is None:
            return dict.fromkeys(names)
        return {name: read_pointer(store, name) for name in names}
    except StoreError as exc:
        raise pulumi.RunError(f"model store gs://{bucket}: {exc}") from None
    except Exception as exc:
        raise pulumi.RunError(
            f"model store gs://{bucket}: cannot read the pointers to pin "
            f"({type(exc).__name__}: {exc}); `gcloud auth application-default login`, as for "
            "Pulumi's provider"
        ) from None
