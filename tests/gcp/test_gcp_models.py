"""Several models from one fork (models.toml): one function per model, each with its own bundle,
URL, invokers, alert policies and dashboard, on what the stack shares (mocked program runs).

The fork is tests/conftest.py's `two_models`: iris (the reference, path `model`) and a random
forest on wine (`models/wine`), which overrides max_batch_rows 500, alarm_latency_p99_ms 1500
and, in prod, min_instances 2 (and memory_mb, an AWS setting this program ignores).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import zipfile
from pathlib import Path

import pytest
from conftest import STACKS, Graph
from served_bundle import serve
from test_gcp_program import (
    ALERT,
    BUCKET,
    CHANNEL,
    FUNCTION,
    OBJECT,
    REPOSITORY,
    REPOSITORY_MEMBER,
    RUN_INVOKER,
    SLEEP,
)

from handler.runtime import requirements, shipped_artifacts
from model import catalog

DASHBOARD = "gcp:monitoring/dashboard:Dashboard"
MODELS = ("iris", "wine")
each_stack = pytest.mark.parametrize("stack", STACKS)
each_model = pytest.mark.parametrize("model", MODELS)


@pytest.fixture(scope="session")
def fork_graphs(program, two_models: Path) -> dict[str, Graph]:
    return {stack: program(stack, f"modelsFile={two_models}") for stack in STACKS}


def function_of(graph: Graph, model: str) -> dict:
    return graph.one(FUNCTION, f"{model}-inference-function").state


def threshold(graph: Graph, model: str, suffix: str) -> dict:
    [condition] = graph.one(ALERT, f"{model}-monitoring-{suffix}").state["conditions"]
    return condition["conditionThreshold"]


# --- one function per model -------------------------------------------------------------------


@each_stack
def test_each_model_gets_a_function_named_after_the_stack_function_and_the_model(
    fork_graphs, stack
):
    graph = fork_graphs[stack]
    names = {r.name: r.state["name"] for r in graph.of_type(FUNCTION)}
    assert names == {
        "iris-inference-function": f"sklearn-inference-{stack}-iris",
        "wine-inference-function": f"sklearn-inference-{stack}-wine",
    }


@each_stack
@each_model
def test_each_function_builds_from_its_own_bundle_in_the_shared_bucket(fork_graphs, stack, model):
    graph = fork_graphs[stack]
    source = function_of(graph, model)["buildConfig"]["source"]["storageSource"]
    archive = graph.one(OBJECT, f"{model}-source-archive")
    assert source == {"bucket": graph.one(BUCKET).state["name"], "object": archive.state["name"]}
    digest = hashlib.sha256(Path(archive.state["source"]["path"]).read_bytes()).hexdigest()
    assert archive.state["name"] == f"sklearn-inference-{stack}-{model}/source-{digest}.zip"
    assert archive.retain_on_delete is True, archive.urn


@each_model
def test_each_bundle_holds_its_own_models_served_artifact_and_requirements(
    fork_graphs, two_models, model
):
    # GIVEN the model's own artifacts in the fork
    entry = catalog.load(two_models).get(model)
    archive = fork_graphs["prod"].one(OBJECT, f"{model}-source-archive")
    with zipfile.ZipFile(archive.state["source"]["path"]) as opened:
        names = set(opened.namelist())
        shipped = {n: opened.read(n) for n in names if n.startswith("model/artifacts/")}
        pinned = opened.read("requirements.txt").decode()
    # THEN its manifest and the one artifact it serves sit where the handler loads them from
    assert shipped == {
        f"model/artifacts/{path.name}": path.read_bytes()
        for path in shipped_artifacts(entry.artifacts)
    }, archive.urn
    assert (
        json.loads(shipped["model/artifacts/manifest.json"])["name"]
        == {
            "iris": "iris-logistic-regression",
            "wine": "wine-random-forest",
        }[model]
    )
    # AND the requirements are those its own manifest's backend needs
    assert pinned == requirements(
        "gcp", entry.artifacts, requirements_dir=two_models.parent / "handler" / "requirements"
    )
    assert {"main.py", "handler/gcp.py"} <= names


@pytest.mark.slow
def test_the_wine_bundle_answers_wines_reference_predictions(fork_graphs, two_models, tmp_path):
    # GIVEN the archive the program would upload for wine, unpacked
    archive = fork_graphs["prod"].one(OBJECT, "wine-source-archive")
    tree = tmp_path / "wine-source"
    shutil.unpack_archive(archive.state["source"]["path"], tree, format="zip")
    reference = json.loads(
        (catalog.load(two_models).get("wine").artifacts / "reference.json").read_text()
    )
    cases = reference["cases"][:3]
    # WHEN functions-framework serves it, seeing only that tree
    health, *answers = serve(
        tree,
        [("GET", "/health", None), *(("POST", "/", {"features": c["features"]}) for c in cases)],
    )
    # THEN it is the wine model, and it gives the reference labels
    assert health["body"]["model"]["name"] == "wine-random-forest", health
    assert [a["body"]["predictions"][0]["label"] for a in answers] == [c["label"] for c in cases]


@each_stack
def test_per_model_settings_reach_only_that_models_function(fork_graphs, stack):
    graph = fork_graphs[stack]
    iris, wine = (function_of(graph, m)["serviceConfig"] for m in MODELS)
    # wine: min_instances 2 in prod only; max_batch_rows 500 everywhere
    expected_min = {"dev": (0, 0), "prod": (1, 2)}[stack]
    assert (iris["minInstanceCount"], wine["minInstanceCount"]) == expected_min
    assert iris["environmentVariables"]["MAX_BATCH_ROWS"] == "1000"
    assert wine["environmentVariables"]["MAX_BATCH_ROWS"] == "500"
    # the stack's own settings still apply to both
    assert iris["maxInstanceCount"] == wine["maxInstanceCount"] == {"dev": 3, "prod": 20}[stack]
    assert iris["availableMemory"] == wine["availableMemory"] == "512Mi"


@each_model
def test_functions_are_labelled_with_their_model(fork_graphs, model):
    labels = function_of(fork_graphs["prod"], model)["labels"]
    assert labels == {"app": "sklearn-inference", "model": model}


# --- shared per stack -------------------------------------------------------------------------


@each_stack
def test_apis_accounts_bucket_and_image_repository_are_shared(fork_graphs, stack):
    graph = fork_graphs[stack]
    repository = graph.one(REPOSITORY)
    assert repository.state["repositoryId"] == f"sklearn-inference-{stack}"
    graph.one(BUCKET)
    graph.one(SLEEP)
    accounts = {r.state["accountId"] for r in graph.of_type("gcp:serviceaccount/account:Account")}
    assert accounts == {f"sklearn-inference-{stack}-run", f"sklearn-inference-{stack}-build"}
    for model in MODELS:
        state = function_of(graph, model)
        assert state["buildConfig"]["dockerRepository"] == repository.id, model
        assert (
            state["buildConfig"]["serviceAccount"]
            == graph.one("gcp:serviceaccount/account:Account", "identities-build").id
        )


def test_build_account_writes_only_to_the_shared_repository(fork_graphs):
    graph = fork_graphs["prod"]
    writer = graph.one(REPOSITORY_MEMBER)
    assert writer.state["repository"] == graph.one(REPOSITORY).state["name"], writer.urn
    assert writer.state["role"] == "roles/artifactregistry.writer"


@each_model
def test_each_function_waits_for_iam_propagation_and_apis(fork_graphs, model):
    graph = fork_graphs["prod"]
    fn = graph.one(FUNCTION, f"{model}-inference-function")
    assert graph.one(SLEEP).urn in fn.dependencies, fn.urn
    services = {r.urn for r in graph.of_type("gcp:projects/service:Service")}
    assert services <= set(fn.dependencies), fn.urn


# --- alert policies and dashboards ------------------------------------------------------------


@each_stack
def test_each_model_has_its_own_alert_policies_with_its_thresholds(fork_graphs, stack):
    graph = fork_graphs[stack]
    assert len(graph.of_type(ALERT)) == 2 * 4  # errors, latency, refused requests, uptime
    for model, latency in (("iris", 1000), ("wine", 1500)):
        service = f'resource.labels.service_name = "sklearn-inference-{stack}-{model}"'
        for suffix in ("server-errors", "latency-p99"):
            assert service in threshold(graph, model, suffix)["filter"], (model, suffix)
        [refused] = graph.one(ALERT, f"{model}-monitoring-throttled").state["conditions"]
        assert service in refused["conditionMatchedLog"]["filter"], model
        assert threshold(graph, model, "latency-p99")["thresholdValue"] == latency, model
        assert threshold(graph, model, "server-errors")["thresholdValue"] == 5, model


def test_alert_documentation_rolls_back_the_model_it_is_about(fork_graphs):
    policy = fork_graphs["prod"].one(ALERT, "wine-monitoring-server-errors")
    content = policy.state["documentation"]["content"]
    assert "**sklearn-inference-prod-wine** (region us-central1" in content
    assert "`make rollback-gcp STACK=prod MODEL=wine`" in content
    assert policy.state["displayName"].startswith("sklearn-inference-prod-wine: ")


@each_model
def test_each_model_has_a_dashboard_of_its_own_service(fork_graphs, model):
    graph = fork_graphs["prod"]
    definition = json.loads(
        graph.one(DASHBOARD, f"{model}-monitoring-dashboard").state["dashboardJson"]
    )
    service = f'resource.labels.service_name = "sklearn-inference-prod-{model}"'
    filters = [
        dataset["timeSeriesQuery"]["timeSeriesFilter"]["filter"]
        for tile in definition["mosaicLayout"]["tiles"]
        for dataset in tile["widget"].get("xyChart", {}).get("dataSets", [])
    ]
    assert filters and all(service in f for f in filters), model
    charted = {
        t["widget"]["alertChart"]["name"]
        for t in definition["mosaicLayout"]["tiles"]
        if "alertChart" in t["widget"]
    }
    assert charted == {
        f"projects/acme-ml-test/alertPolicies/{model}-monitoring-{s}"
        for s in ("server-errors", "latency-p99", "throttled", "uptime")
    }


def test_one_email_channel_serves_every_models_policies(program, two_models):
    graph = program("prod", f"modelsFile={two_models}", "alertEmail=oncall@acme.com")
    channel = graph.one(CHANNEL)
    assert channel.name == "alerts-email"
    policies = graph.of_type(ALERT)
    assert len(policies) == 2 * 4
    assert all(p.state["notificationChannels"] == [channel.id] for p in policies)


# --- invokers ---------------------------------------------------------------------------------


def test_every_models_service_admits_the_configured_invokers(program, two_models):
    member = "serviceAccount:caller@acme.iam.gserviceaccount.com"
    graph = program("prod", f"modelsFile={two_models}", f'invokers=["{member}"]')
    granted = {
        (r.name, r.state["name"], r.state["member"])
        for r in graph.of_type(RUN_INVOKER)
        if not r.name.endswith("uptime-check")
    }
    assert granted == {
        (
            f"{m}-invokers-serviceaccount-caller-acme-iam-gserviceaccount-com",
            f"sklearn-inference-prod-{m}",
            member,
        )
        for m in MODELS
    }


# --- outputs ----------------------------------------------------------------------------------


@each_stack
def test_models_output_maps_each_model_to_its_url_function_and_bundle(fork_graphs, stack):
    graph = fork_graphs[stack]
    models = graph.outputs["models"]
    assert set(models) == set(MODELS)
    for model in MODELS:
        state = function_of(graph, model)
        archive = graph.one(OBJECT, f"{model}-source-archive")
        assert models[model]["url"] == state["url"]
        assert models[model]["function_name"] == state["name"]
        assert models[model]["source_object"] == archive.state["name"]
        assert models[model]["source_pinned"] is False


def test_single_model_outputs_are_absent_so_no_tool_mistakes_one_model_for_the_stack(fork_graphs):
    outputs = fork_graphs["prod"].outputs
    assert not {"url", "curl", "function_name", "source_object", "dashboard_url"} & set(outputs)
    assert {"bucket_name", "runtime_service_account", "build_service_account", "public"} <= set(
        outputs
    )


def test_each_models_curl_sends_a_row_of_that_model(fork_graphs, two_models):
    models = fork_graphs["prod"].outputs["models"]
    for model in MODELS:
        reference = json.loads(
            (catalog.load(two_models).get(model).artifacts / "reference.json").read_text()
        )
        body = json.dumps({"features": reference["cases"][0]["features"]})
        assert models[model]["curl"].startswith(f"curl -sS -X POST {models[model]['url']} ")
        assert models[model]["curl"].endswith(f"-d '{body}'"), model


# --- pins per model ---------------------------------------------------------------------------


def test_a_pinned_model_serves_its_pin_while_the_others_serve_the_tree(program, two_models):
    # GIVEN wine rolled back to an earlier bundle (make rollback-gcp MODEL=wine)
    pinned = f"sklearn-inference-prod-wine/source-{'ab' * 32}.zip"
    graph = program("prod", f"modelsFile={two_models}", f'sourceObjects={{"wine": "{pinned}"}}')
    # THEN wine builds from it and uploads nothing; iris is unaffected
    assert function_of(graph, "wine")["buildConfig"]["source"]["storageSource"]["object"] == pinned
    assert [o.name for o in graph.of_type(OBJECT)] == ["iris-source-archive"]
    models = graph.outputs["models"]
    assert (models["wine"]["source_object"], models["wine"]["source_pinned"]) == (pinned, True)
    assert models["iris"]["source_pinned"] is False


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        # wine's prod min_instances 2 against the stack's maxInstances 1
        (
            ["maxInstances=1"],
            "model wine (models.toml, stack prod): need 0 <= minInstances <= maxInstances, "
            "got 2 and 1",
        ),
        (
            [f"sourceObject=sklearn-inference-prod/source-{'ab' * 32}.zip"],
            "sourceObject pins the bundle of a stack's only model, but models.toml declares "
            "iris, wine",
        ),
        (
            [f'sourceObjects={{"wine": "sklearn-inference-prod-iris/source-{"ab" * 32}.zip"}}'],
            "model wine (models.toml, stack prod): sourceObjects.wine must name a bundle of this "
            "function, sklearn-inference-prod-wine/source-<sha256>.zip",
        ),
    ],
)
def test_invalid_model_settings_stop_the_program_naming_the_model(
    program, two_models, overrides, message
):
    with pytest.raises(AssertionError, match=re.escape(message)):
        program("prod", f"modelsFile={two_models}", *overrides)
