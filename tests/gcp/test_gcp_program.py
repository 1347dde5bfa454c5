"""The program's resources under each example stack config (mocked; no CLI, plugin or cloud)."""

from __future__ import annotations

import hashlib
import re
import zipfile
from pathlib import Path

import pytest
from program_runs import STACKS, Graph

FUNCTION = "gcp:cloudfunctionsv2/function:Function"
BUCKET = "gcp:storage/bucket:Bucket"
OBJECT = "gcp:storage/bucketObject:BucketObject"
ACCOUNT = "gcp:serviceaccount/account:Account"
PROJECT_MEMBER = "gcp:projects/iAMMember:IAMMember"
BUCKET_MEMBER = "gcp:storage/bucketIAMMember:BucketIAMMember"
REPOSITORY = "gcp:artifactregistry/repository:Repository"
REPOSITORY_MEMBER = "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember"
GRANTS = (PROJECT_MEMBER, BUCKET_MEMBER, REPOSITORY_MEMBER)
RUN_INVOKER = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
ALERT = "gcp:monitoring/alertPolicy:AlertPolicy"
CHANNEL = "gcp:monitoring/notificationChannel:NotificationChannel"
SERVICE = "gcp:projects/service:Service"
SLEEP = "time:index/sleep:Sleep"

pytestmark = pytest.mark.parametrize("stack", STACKS)


def service_config(graph: Graph) -> dict:
    return graph.one(FUNCTION).state["serviceConfig"]


def roles_of(graph: Graph, email_prefix: str) -> set[tuple[str, str]]:
    """(resource type, role) of every grant to the account whose id starts with the prefix."""
    return {
        (r.type, r.state["role"])
        for r in graph.resources
        if r.type in GRANTS and r.state["member"].startswith(f"serviceAccount:{email_prefix}")
    }


# --- function ---------------------------------------------------------------------------------


def test_function_builds_python312_from_entry_point_predict(graphs, stack):
    fn = graphs[stack].one(FUNCTION)
    build = fn.state["buildConfig"]
    assert (build["runtime"], build["entryPoint"]) == ("python312", "predict"), fn.urn


def test_function_is_http_triggered(graphs, stack):
    fn = graphs[stack].one(FUNCTION)
    assert "eventTrigger" not in fn.state, f"{fn.urn} must be HTTP-triggered"
    assert graphs[stack].outputs["url"].startswith("https://"), fn.urn


def test_min_and_max_instances_follow_the_stack_file(graphs, stack):
    expected = {"dev": (0, 3), "prod": (1, 20)}[stack]
    config = service_config(graphs[stack])
    assert (config["minInstanceCount"], config["maxInstanceCount"]) == expected


def test_memory_defaults_to_512mi_with_a_whole_cpu(graphs, stack):
    config = service_config(graphs[stack])
    assert (config["availableMemory"], config["availableCpu"]) == ("512Mi", "1")


def test_concurrency_is_explicit_and_backed_by_at_least_one_cpu(graphs, stack):
    config = service_config(graphs[stack])
    assert config["maxInstanceRequestConcurrency"] == 8
    assert float(config["availableCpu"]) >= 1, "concurrency above 1 needs a whole vCPU"
    assert config["environmentVariables"]["THREADS"] == "8", "gunicorn threads match concurrency"


def test_timeout_and_ingress(graphs, stack):
    config = service_config(graphs[stack])
    assert config["timeoutSeconds"] == 30
    assert config["ingressSettings"] == "ALLOW_ALL"


def test_every_function_deploys_new_revisions_without_traffic(graphs, stack):
    # The release tool judges a new revision before it moves any traffic (release.py); a
    # deploy must leave traffic where the service has it, and ignore nothing (function.py).
    functions = graphs[stack].of_type(FUNCTION)
    assert functions
    for fn in functions:
        assert fn.state["serviceConfig"]["allTrafficOnLatestRevision"] is False, fn.urn


def test_handler_environment_is_set(graphs, stack):
    env = service_config(graphs[stack])["environmentVariables"]
    assert env["MODEL_BACKEND"] == "auto"
    assert env["MAX_BATCH_ROWS"] == "1000"
    assert env["LOG_LEVEL"] == {"dev": "DEBUG", "prod": "INFO"}[stack]


def test_body_limit_is_left_to_the_handler_unless_set(graphs, stack):
    # CONTRACTS.md section 3: the handler derives the limit from the model; an infrastructure
    # default (the old 6 MiB) would silently override it.
    env = service_config(graphs[stack])["environmentVariables"]
    assert "MAX_BODY_BYTES" not in env, graphs[stack].one(FUNCTION).urn


def test_function_runs_and_builds_as_the_dedicated_accounts(graphs, stack):
    graph = graphs[stack]
    fn = graph.one(FUNCTION)
    runtime = graph.one(ACCOUNT, "identities-runtime")
    build = graph.one(ACCOUNT, "identities-build")
    assert fn.state["serviceConfig"]["serviceAccountEmail"] == runtime.state["email"], fn.urn
    # Cloud Functions wants the build account's resource name, not its e-mail.
    assert fn.state["buildConfig"]["serviceAccount"] == build.id, fn.urn


def test_function_waits_for_iam_propagation_and_apis(graphs, stack):
    # The function resource itself must list them: a component's depends_on does not reach
    # its children, and the engine orders creation by each resource's own dependencies.
    graph = graphs[stack]
    fn = graph.one(FUNCTION)
    sleep = graph.one(SLEEP)
    assert sleep.urn in fn.dependencies, fn.urn
    grants = {r.urn for type_ in GRANTS for r in graph.of_type(type_)}
    assert len(grants) == 6 and grants <= set(sleep.dependencies), sleep.urn
    assert {r.urn for r in graph.of_type(SERVICE)} <= set(fn.dependencies), fn.urn


def test_iam_wait_covers_googles_typical_propagation_time(graphs, stack):
    # "Typically 2 minutes" (IAM docs); the provider's own 60 s wait fails half the time.
    sleep = graphs[stack].one(SLEEP)
    assert sleep.state["createDuration"] == "180s", sleep.urn


def test_iam_wait_runs_again_when_a_grant_is_added_or_replaced(graphs, stack):
    graph = graphs[stack]
    sleep = graph.one(SLEEP)
    grant_ids = sorted(r.id for type_ in GRANTS for r in graph.of_type(type_))
    assert sleep.state["triggers"]["grants"] == ",".join(grant_ids), sleep.urn


def test_every_cloud_resource_waits_for_the_apis(graphs, stack):
    graph = graphs[stack]
    services = {r.urn for r in graph.of_type(SERVICE)}
    for resource in graph.resources:
        if resource.custom and resource.type != SERVICE:
            assert services <= set(resource.dependencies), resource.urn


# --- source bundle ----------------------------------------------------------------------------


def test_source_bucket_is_private_with_uniform_access(graphs, stack):
    bucket = graphs[stack].one(BUCKET)
    assert bucket.state["uniformBucketLevelAccess"] is True, bucket.urn
    assert bucket.state["publicAccessPrevention"] == "enforced", bucket.urn


def test_source_bucket_deletes_a_bundle_only_90_days_after_the_release_tool_stamped_it(
    graphs, stack
):
    # customTime is when the bundle last served or was a rollback target (gcp_release/history):
    # a bundle the release tool has not stamped yet has none, and no rule deletes it.
    bucket = graphs[stack].one(BUCKET)
    [rule] = bucket.state["lifecycleRules"]
    assert rule["action"]["type"] == "Delete", bucket.urn
    assert rule["condition"]["daysSinceCustomTime"] == 90, bucket.urn
    assert rule["condition"]["matchesSuffixes"] == [".zip"], bucket.urn
    assert "age" not in rule["condition"], "an age rule would delete what still serves"


def test_a_new_bundle_never_deletes_the_previous_one(graphs, stack):
    # The object's name changes with its content, which replaces the resource: without
    # retain_on_delete Pulumi would delete the bundle a rollback needs.
    obj = graphs[stack].one(OBJECT)
    assert obj.retain_on_delete is True, obj.urn


def test_function_source_is_the_uploaded_object(graphs, stack):
    graph = graphs[stack]
    source = graph.one(FUNCTION).state["buildConfig"]["source"]["storageSource"]
    obj = graph.one(OBJECT)
    assert source == {"bucket": graph.one(BUCKET).state["name"], "object": obj.state["name"]}


def test_object_name_is_the_archive_content_hash(graphs, stack):
    obj = graphs[stack].one(OBJECT)
    archive = Path(obj.state["source"]["path"]).read_bytes()
    digest = hashlib.sha256(archive).hexdigest()
    assert obj.state["name"] == f"sklearn-inference-{stack}/source-{digest}.zip", obj.urn


def test_uploaded_archive_holds_exactly_the_file_list(graphs, stack):
    obj = graphs[stack].one(OBJECT)
    with zipfile.ZipFile(obj.state["source"]["path"]) as archive:
        names = archive.namelist()
    assert names == [
        "handler/__init__.py",
        "handler/core.py",
        "main.py",
        "model/artifacts/manifest.json",
        "model/artifacts/model.onnx",
        "requirements.txt",
    ], obj.urn


# --- identities -------------------------------------------------------------------------------


def test_runtime_account_only_writes_logs_and_metrics(graphs, stack):
    assert roles_of(graphs[stack], f"sklearn-inference-{stack}-run@") == {
        (PROJECT_MEMBER, "roles/logging.logWriter"),
        (PROJECT_MEMBER, "roles/monitoring.metricWriter"),
    }


def test_build_account_has_the_minimal_build_roles(graphs, stack):
    assert roles_of(graphs[stack], f"sklearn-inference-{stack}-build@") == {
        (PROJECT_MEMBER, "roles/logging.logWriter"),
        (PROJECT_MEMBER, "roles/storage.objectViewer"),
        (BUCKET_MEMBER, "roles/storage.objectViewer"),
        (REPOSITORY_MEMBER, "roles/artifactregistry.writer"),
    }


def test_build_account_writes_images_to_the_functions_repository_only(graphs, stack):
    graph = graphs[stack]
    writer = graph.one(REPOSITORY_MEMBER)
    repository = graph.one(REPOSITORY)
    assert writer.state["repository"] == repository.state["name"], writer.urn
    assert writer.state["location"] == repository.state["location"] == "us-central1"
    project_roles = {r.state["role"] for r in graph.of_type(PROJECT_MEMBER)}
    assert not any(role.startswith("roles/artifactregistry.") for role in project_roles)


# --- image repository -------------------------------------------------------------------------


def test_function_pushes_its_image_to_its_own_docker_repository(graphs, stack):
    graph = graphs[stack]
    repository = graph.one(REPOSITORY)
    assert repository.state["format"] == "DOCKER", repository.urn
    assert repository.state["repositoryId"] == f"sklearn-inference-{stack}", repository.urn
    # Cloud Functions only accepts a repository in the function's own project and region.
    fn = graph.one(FUNCTION)
    assert fn.state["buildConfig"]["dockerRepository"] == repository.id, fn.urn
    assert repository.state["location"] == fn.state["location"], repository.urn


def test_old_images_are_cleaned_up_but_the_newest_are_kept(graphs, stack):
    repository = graphs[stack].one(REPOSITORY)
    policies = {p["id"]: p for p in repository.state["cleanupPolicies"]}
    assert repository.state["cleanupPolicyDryRun"] is False, repository.urn
    assert policies["delete-old"]["action"] == "DELETE"
    assert policies["delete-old"]["condition"] == {"olderThan": "30d", "tagState": "ANY"}
    # KEEP wins over DELETE: the newest versions always stay, whatever their age, and with them
    # the image of the revision a rollback returns to (registry.py).
    assert policies["keep-recent"]["action"] == "KEEP"
    assert policies["keep-recent"]["mostRecentVersions"] == {"keepCount": 10}


def test_build_account_reads_only_source_buckets(graphs, stack):
    graph = graphs[stack]
    [project_reader] = [
        r for r in graph.of_type(PROJECT_MEMBER) if r.state["role"] == "roles/storage.objectViewer"
    ]
    expression = project_reader.state["condition"]["expression"]
    assert expression == 'resource.name.startsWith("projects/_/buckets/gcf-v2-sources-")'
    bucket_reader = graph.one(BUCKET_MEMBER)
    assert bucket_reader.state["bucket"] == graph.one(BUCKET).state["name"], bucket_reader.urn


def test_no_grant_uses_a_basic_role(graphs, stack):
    roles = {r.state["role"] for r in graphs[stack].of_type(PROJECT_MEMBER)}
    assert not roles & {"roles/owner", "roles/editor", "roles/viewer"}


# --- APIs -------------------------------------------------------------------------------------


def test_every_needed_api_is_enabled_and_never_disabled_on_destroy(graphs, stack):
    services = graphs[stack].of_type(SERVICE)
    assert {s.state["service"] for s in services} >= {
        "cloudfunctions.googleapis.com",
        "cloudbuild.googleapis.com",
        "run.googleapis.com",
        "artifactregistry.googleapis.com",
        "storage.googleapis.com",
        "logging.googleapis.com",
        "monitoring.googleapis.com",
    }
    assert all(s.state["disableOnDestroy"] is False for s in services), [s.urn for s in services]


# --- deletion protection ---------------------------------------------------------------------


PROTECTED = {FUNCTION, BUCKET, REPOSITORY}


def test_prod_protects_the_function_its_sources_and_images_from_deletion(graphs, stack):
    # Pulumi's `protect` (in the state, not a cloud-side setting): `pulumi destroy` (or a replacement) fails before it
    # deletes anything until deletionProtection is turned off and applied. Nothing else is
    # protected: bundles, grants and the IAM wait are replaced by ordinary deploys.
    graph = graphs[stack]
    protected = {r.type for r in graph.resources if r.protect}
    assert protected == (PROTECTED if stack == "prod" else set()), stack


# --- outputs ----------------------------------------------------------------------------------


def test_outputs_name_everything_an_operator_needs(graphs, stack):
    outputs = graphs[stack].outputs
    assert outputs["function_name"] == f"sklearn-inference-{stack}"
    assert outputs["bucket_name"] == graphs[stack].one(BUCKET).state["name"]
    assert outputs["runtime_service_account"].startswith(f"sklearn-inference-{stack}-run@")
    assert outputs["build_service_account"].startswith(f"sklearn-inference-{stack}-build@")
    assert re.fullmatch(
        r"curl -sS -X POST https://\S+ .*-d '\{\"features\": \[.*\]\}'", outputs["curl"]
    )
