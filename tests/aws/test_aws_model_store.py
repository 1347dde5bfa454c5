"""The model store on AWS: the bucket, what a store model's function and pre-traffic hook get,
and that image models are untouched.

`store_prod_app` / `store_dev_app` (conftest.py) serve the reference model from its image and
wine from the store, wine's pointer naming its committed version in prod and nothing in dev.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Template

from handler.store import Pointer
from stacks.function import InferenceFunction, ModelImage
from stacks.model_store import ModelStore, StoreBinding
from stacks.settings import build_settings
from tests.aws.conftest import Synthesized, masked, own_context, rendered

pytestmark = pytest.mark.slow


def test_a_stack_of_image_models_has_no_store(live: Synthesized) -> None:
    # Whatever this repository's models.toml declares: a store only where a model needs one.
    stores = live.resources("AWS::S3::Bucket")
    assert bool(stores) is any(entry.store for entry in live.models.models)
    for entry in live.models.models:
        if not entry.store:
            env = live.functions()[entry.name][1]["Environment"]["Variables"]
            assert not {"MODEL_SOURCE", "MODEL_STORE", "MODEL_VERSION"} & set(env)


def bucket(app: Synthesized) -> tuple[str, dict[str, Any]]:
    (found,) = app.resources("AWS::S3::Bucket").items()
    return found


def test_store_bucket_is_versioned_private_encrypted_and_tls_only(
    store_prod_app: Synthesized,
) -> None:
    _, resource = bucket(store_prod_app)
    props = resource["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [
        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    ]
    assert props["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
    )
    (policy,) = store_prod_app.resources("AWS::S3::BucketPolicy").values()
    (deny,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == {"AWS": "*"}
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_store_is_retained_in_prod_and_emptied_with_a_dev_stack(
    store_prod_app: Synthesized, store_dev_app: Synthesized
) -> None:
    for app in (store_prod_app, store_dev_app):
        _, resource = bucket(app)
        retain = app.settings.retain_model_store
        policy = "Retain" if retain else "Delete"
        assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == (policy, policy)
        assert bool(app.resources("Custom::S3AutoDeleteObjects")) is not retain
    assert (
        store_prod_app.settings.retain_model_store and not store_dev_app.settings.retain_model_store
    )


def test_store_model_is_pinned_to_the_pointer_read_at_synth(
    store_prod_app: Synthesized, store_pin: Pointer
) -> None:
    bucket_id, _ = bucket(store_prod_app)
    env = store_prod_app.functions()["wine"][1]["Environment"]["Variables"]
    assert env["MODEL_SOURCE"] == "store"
    assert rendered(env["MODEL_STORE"]) == f"s3://<{bucket_id}>/models/wine"
    assert (env["MODEL_VERSION"], env["MODEL_SHA256"]) == (store_pin.version, store_pin.sha256)


def test_store_model_serves_its_image_until_a_version_is_promoted(
    store_dev_app: Synthesized,
) -> None:
    # GIVEN a stack before any promotion (new, or a model moving to the store): the bucket is
    # there to publish to, and the model is served exactly as an image model, with its reference
    assert store_dev_app.resources("AWS::S3::Bucket")
    env = store_dev_app.functions()["wine"][1]["Environment"]["Variables"]
    assert not {"MODEL_SOURCE", "MODEL_STORE", "MODEL_VERSION"} & set(env)
    images = [
        i["source"].get("dockerBuildArgs", {})
        for i in store_dev_app.assets["dockerImages"].values()
    ]
    assert not [args for args in images if "MODEL_SOURCE" in args]
    hook = hook_of(store_dev_app, "wine")["Environment"]["Variables"]
    assert not str(hook["REFERENCE_KEY"]).startswith("models/")  # the reference asset
    assert "WineModelStore" not in store_dev_app.template["Outputs"]


def test_store_model_image_ships_no_artifacts(store_prod_app: Synthesized) -> None:
    build_args = {
        image["source"].get("dockerBuildArgs", {}).get("MODEL"): image["source"].get(
            "dockerBuildArgs", {}
        )
        for image in store_prod_app.assets["dockerImages"].values()
    }
    assert build_args["models/wine"]["MODEL_SOURCE"] == "store"
    assert "MODEL_SOURCE" not in build_args[None]  # the reference model's image is unchanged


def s3_statements(app: Synthesized, role_id: str) -> list[dict[str, Any]]:
    statements = app.policy_of(role_id)["PolicyDocument"]["Statement"]
    return [s for s in statements if any(str(a).startswith("s3:") for a in _list(s["Action"]))]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_each_function_reads_its_own_model_prefix_only(store_prod_app: Synthesized) -> None:
    bucket_id, _ = bucket(store_prod_app)
    roles = {
        name: props["Role"]["Fn::GetAtt"][0]
        for name, (_, props) in store_prod_app.functions().items()
    }
    wine = s3_statements(store_prod_app, roles["wine"])
    assert [(s["Action"], rendered(s["Resource"])) for s in wine] == [
        ("s3:GetObject", f"<{bucket_id}.Arn>/models/wine/*"),
        ("s3:ListBucket", f"<{bucket_id}.Arn>"),
    ]
    assert wine[1]["Condition"] == {"StringLike": {"s3:prefix": ["models/wine/*"]}}
    assert s3_statements(store_prod_app, roles["iris"]) == []


def hook_of(app: Synthesized, model: str) -> dict[str, Any]:
    function_id = app.functions()[model][0]
    (hook,) = [
        r["Properties"]
        for r in app.resources("AWS::Lambda::Function").values()
        if r["Properties"].get("Handler") == "pre_traffic.handler"
        and r["Properties"]["Environment"]["Variables"]["FUNCTION_NAME"] == {"Ref": function_id}
    ]
    return hook


def test_hook_checks_the_pinned_versions_own_reference(
    store_prod_app: Synthesized, store_pin: Pointer
) -> None:
    bucket_id, _ = bucket(store_prod_app)
    hook = hook_of(store_prod_app, "wine")
    env = hook["Environment"]["Variables"]
    assert env["REFERENCE_BUCKET"] == {"Ref": bucket_id}
    assert env["REFERENCE_KEY"] == f"models/wine/versions/{store_pin.version}/reference.json"
    assert "CANARY_SECONDS" in env  # prod's canary: the same gates as a code change
    reads = s3_statements(store_prod_app, hook["Role"]["Fn::GetAtt"][0])
    assert [rendered(s["Resource"]) for s in reads] == [
        f"<{bucket_id}.Arn>/models/wine/versions/*/reference.json"
    ]


def test_store_outputs_name_the_bucket_and_each_store_models_folder(
    store_prod_app: Synthesized,
) -> None:
    bucket_id, _ = bucket(store_prod_app)
    outputs = store_prod_app.template["Outputs"]
    assert outputs["ModelStoreBucket"]["Value"] == {"Ref": bucket_id}
    assert rendered(outputs["WineModelStore"]["Value"]) == f"s3://<{bucket_id}>/models/wine"
    assert "ModelStore" not in outputs  # the reference model is served from its image


def test_an_image_model_beside_a_store_model_is_unchanged(
    store_prod_app: Synthesized, two_model_app: Synthesized
) -> None:
    # GIVEN the same fork with and without wine in the store: the reference model's resources
    # (function, alias, role policy, release) are the same, hashes aside
    def iris(app: Synthesized) -> dict[str, Any]:
        _, props = app.functions()["iris"]
        role = props["Role"]["Fn::GetAtt"][0]
        alias = app.template["Resources"][app.aliases()["iris"]]
        return masked({"function": props, "alias": alias, "policy": app.policy_of(role)})

    assert iris(store_prod_app) == iris(two_model_app)


# --- what a promotion does to the template, and what a deploy that changes nothing does ----


def version_id(pointer: Pointer | None, env: str = "prod") -> str:
    """The logical ID of the Lambda version a deploy pinned to `pointer` publishes: a store
    model's function alone, in a stack of its own (the same hashing as the full stack)."""
    app = App()
    stack = Stack(app, "Promotions")
    store = ModelStore(stack, "ModelStore", retain=True)
    InferenceFunction(
        stack,
        "Inference",
        settings=build_settings({"env": env, "image_repository": "inference", "image_tag": "t"}),
        image=ModelImage(source="store"),
        store=StoreBinding(store, "iris", pointer),
    )
    template = app.synth().get_stack_by_name("Promotions").template
    (found,) = [k for k, v in template["Resources"].items() if v["Type"] == "AWS::Lambda::Version"]
    return found


def test_a_promotion_publishes_a_version_and_a_deploy_that_changes_nothing_does_not() -> None:
    v1, v2 = Pointer("1.0.0", "a" * 64), Pointer("1.1.0", "b" * 64)
    deployed_v1 = version_id(v1)
    promoted_v2 = version_id(v2)
    assert promoted_v2 != deployed_v1  # a new version, released through CodeDeploy and the hook
    assert version_id(v2) == promoted_v2  # redeploying the same pointer publishes nothing
    # Rolling back (promoting v1 again) names v1's configuration: a resource the stack no longer
    # holds, so CloudFormation publishes it anew and releases it through the same gates.
    assert version_id(v1) == deployed_v1 != promoted_v2


def test_a_deploy_that_cannot_read_a_pointer_stops_with_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A deploy must not unpin a store model because the pointer could not be read.
    from botocore.exceptions import NoCredentialsError

    import app
    from ops import model_store
    from stacks.settings import SettingsError

    def no_credentials(*args: object) -> None:
        raise NoCredentialsError()

    monkeypatch.setattr(model_store, "stack_pointers", no_credentials)
    with pytest.raises(SettingsError) as refused:
        app._deployed_pointers("us-east-1")("SklearnInference-prod", ["wine"])
    message = str(refused.value)
    assert "\n" not in message and "no AWS credentials found" in message
    assert "wine" in message and "undoing the promotion" in message


def test_an_offline_synth_serves_a_store_model_unpinned_and_says_so(
    store_fork: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN `cdk synth` where the CLI found no credentials (no CDK_DEFAULT_ACCOUNT): a pull
    # request's checks, a laptop offline. Nothing it writes can be deployed by that CLI.
    import app as cdk_entry
    from ops import model_store

    def reached(*args: object) -> None:
        raise AssertionError("an offline synth must not try to read the store")

    monkeypatch.setattr(model_store, "stack_pointers", reached)
    stack = cdk_entry.build(App(context=own_context(store_fork, env="prod")), {})
    # THEN it synthesizes, wine as before any promotion, and the warning says a deploy pins it
    env = Template.from_stack(stack).find_resources("AWS::Lambda::Function")
    assert not [
        f for f in env.values() if "MODEL_VERSION" in str(f["Properties"].get("Environment"))
    ]
    assert capsys.readouterr().err.splitlines()[0] == (
        'warning: wine (source = "store"): synthesized unpinned, as served before any '
        "promotion; a synth with credentials (cdk deploy) pins each model's promoted version"
    )
