"""The stack's model store: one private, versioned, encrypted, TLS-only S3 bucket holding every
store model's versions and pointer (handler/store.py), and what each store model's function and
pre-traffic hook may read of it.

Only a stack serving a store model (models.toml `source = "store"`) has one, so the template of
a stack of image models does not change. The bucket keeps a generated name; `ModelStoreBucket`
outputs it for `make publish-model` and `make promote`.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Acknowledgment, CfnOutput, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from handler.store import Pointer, deployment_environment, model_prefix, reference_key
from stacks.findings import skip_checkov

OUTPUT = "ModelStoreBucket"  # ops/model_store.py reads it
# Versions of current.json (every promotion) and of any object overwritten by mistake: kept this
# long as the store's own history, then expired.
NONCURRENT_DAYS = 365


class ModelStore(Construct):
    """Exposes `bucket`. `retain` keeps the bucket and its versions when the stack is deleted
    (prod); otherwise the stack deletes it, objects included."""

    def __init__(self, scope: Construct, id: str, *, retain: bool) -> None:
        super().__init__(scope, id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            versioned=True,
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    noncurrent_version_expiration=Duration.days(NONCURRENT_DAYS),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
            auto_delete_objects=not retain,
        )
        skip_checkov(
            self.bucket,
            {
                "CKV_AWS_18": "Reads are the functions' own cold starts and the release tools; "
                "CloudTrail data events are the audit trail to turn on where one is required. "
                "Server access logs would need a second bucket for every stack.",
                "CKV_AWS_145": "SSE-S3 (AES-256) encrypts every object at rest. A customer-managed "
                "KMS key would add a key policy and kms:Decrypt to every function and hook that "
                "reads a model, for artifacts whose integrity the SHA-256 chain already guards.",
            },
        )
        if not retain:
            _explain_auto_delete(self)
        Validations.of(self.bucket).acknowledge(
            Acknowledgment(
                id="AwsSolutions-S1",
                reason="Server access logs need a second bucket per stack; CloudTrail data "
                "events audit object reads and writes where that is required.",
            )
        )
        CfnOutput(
            Stack.of(self),
            OUTPUT,
            value=self.bucket.bucket_name,
            description="The model store: make publish-model / make promote STACK=<this stack>",
        )

    def grant_model_read(self, role: iam.IRole, model: str) -> None:
        """Read model `model`'s prefix, and nothing else of the bucket: GetObject on its keys,
        and ListBucket below its prefix only (so a missing object answers 404, not 403)."""
        prefix = model_prefix(model)
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"], resources=[self.bucket.arn_for_objects(f"{prefix}/*")]
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[self.bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{prefix}/*"]}},
            )
        )
        Validations.of(role).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::<{_logical_id(self.bucket)}.Arn>/{prefix}/*]",
                reason="The function reads its own model's prefix of the model store, whose "
                "versions are named only when they are published.",
            )
        )


@dataclass(frozen=True)
class StoreBinding:
    """One store model's place in the store, and the pointer its deployment read."""

    store: ModelStore
    model: str
    pointer: Pointer

    @property
    def uri(self) -> str:
        """The handler's MODEL_STORE: s3://<bucket>/models/<name>."""
        return f"s3://{self.store.bucket.bucket_name}/{model_prefix(self.model)}"

    def reference_key(self) -> str:
        """The golden reference of the pinned version, which the pre-traffic hook checks."""
        return reference_key(self.model, self.pointer.version)

    def handler_environment(self) -> dict[str, str]:
        """What handler/settings.py reads for a store model, the pin included."""
        return deployment_environment(self.uri, self.pointer)


def _explain_auto_delete(scope: Construct) -> None:
    """The function CDK adds to empty the bucket when the stack deletes it (auto_delete_objects),
    one per stack, reviewed for checkov where it lands."""
    provider = Stack.of(scope).node.find_child("Custom::S3AutoDeleteObjectsCustomResourceProvider")
    skip_checkov(
        provider.node.find_child("Handler"),
        {
            "CKV_AWS_115": "CDK's auto-delete-objects handler: CloudFormation invokes it once, "
            "when the stack deletes the model store; a reservation would take from the "
            "account's unreserved pool for nothing.",
            "CKV_AWS_116": "CloudFormation invokes CDK's auto-delete-objects handler "
            "synchronously through the custom resource and reports its failure as the stack's; "
            "a dead-letter queue would hold nothing to act on.",
            "CKV_AWS_117": "CDK's auto-delete-objects handler calls only the S3 API of this "
            "stack's bucket; a VPC would add ENIs and endpoints and protect nothing.",
        },
    )


def _logical_id(bucket: s3.Bucket) -> str:
    stack = Stack.of(bucket)
    return str(stack.resolve(stack.get_logical_id(bucket.node.default_child)))  # type: ignore[arg-type]
