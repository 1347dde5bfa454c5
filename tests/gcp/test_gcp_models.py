"""Several models from one fork (models.toml): one function per model, each with its own bundle,
URL, invokers, alert policies and dashboard, on what the stack shares (mocked program runs).

The fork is tests/conftest.py's `two_models`: iris (the reference, path `model`: the primary
model, at the stack's own names) and a random forest on wine (`models/wine`, at its own names),
which overrides memory_mb 2048, max_batch_rows 500, alarm_latency_p99_ms 1500 and, in prod,
min_instances 2. test_gcp_naming.py holds the names across one, two and three models.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path

import pytest
from program_runs import STACKS, Graph
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
    return {stack: program(stack, models=two_models) for stack in STACKS}


def prefix(model: str) -> str:
    """Of the model's resource names: none for the primary model (iris, in model/)."""
    return "" if model == "iris" else f"{model}-"


def service(stack: str, model: str) -> str:
    """The model's function (and Cloud Run service) name: the stack's for the primary model."""
    return f"sklearn-inference-{stack}" if model == "iris" else f"sklearn-inference-{stack}-{model}"


def function_of(graph: Graph, model: str) -> dict:
    return graph.one(FUNCTION, f"{prefix(model)}inference-function").state


def threshold(graph: Graph, model: str, suffix: str) -> dict:
    [condition] = graph.one(ALERT, f"{prefix(model)}monitoring-{suffix}").state["conditions"]
    return condition["conditionThreshold"]


# --- one function per model -------------------------------------------------------------------


@each_stack
def test_the_primary_keeps_the_stacks_function_and_the_other_is_named_after_itself(
    fork_graphs, stack
):
    graph = fork_graphs[stack]
    names = {r.name: r.state["name"] for r in graph.of_type(FUNCTION)}
    assert names == {
        "inference-function": f"sklearn-inference-{stack}",
        "wine-inference-function": f"sklearn-inference-{stack}-wine",
    }


@each_stack
@each_model
def test_each_function_builds_from_its_own_bundle_in_the_shared_bucket(fork_graphs, stack, model):
    graph = fork_graphs[stack]
    source = function_of(graph, model)["buildConfig"]["source"]["storageSource"]
    archive = graph.one(OBJECT, f"{prefix(model)}source-archive")
    assert source == {"bucket": graph.one(BUCKET).state["name"], "object": archive.state["name"]}
    digest = hashlib.sha256(Path(archive.state["source"]["path"]).read_bytes()).hexdigest()
    assert archive.state["name"] == f"{service(stack, model)}/source-{digest}.zip"
    assert archive.retain_on_delete is True, archive.urn


@each_model
def test_each_bundle_holds_its_own_models_served_artifact_and_requirements(
    fork_graphs, two_models, model
):
    # GIVEN the model's own artifacts in the fork
    entry = catalog.load(two_models).get(model)
    archive = fork_graphs["prod"].one(OBJECT, f"{prefix(model)}source-archive")
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
    # memory_mb 2048 sizes wine's function on both clouds; iris keeps the stack's memory
    assert (iris["availableMemory"], wine["availableMemory"]) == ("512Mi", "2048Mi")


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
    fn = graph.one(FUNCTION, f"{prefix(model)}inference-function")
    assert graph.one(SLEEP).urn in fn.dependencies, fn.urn
    services = {r.urn for r in graph.of_type("gcp:projects/service:Service")}
    assert services <= set(fn.dependencies), fn.urn


# --- alert policies and dashboards ------------------------------------------------------------


@each_stack
def test_each_model_has_its_own_alert_policies_with_its_thresholds(fork_graphs, stack):
    graph = fork_graphs[stack]
    assert len(graph.of_type(ALERT)) == 2 * 4  # errors, latency, refused requests, uptime
    for model, latency in (("iris", 1000), ("wine", 1500)):
        service_label = f'resource.labels.service_name = "{service(stack, model)}"'
        for suffix in ("server-errors", "latency-p99"):
            assert service_label in threshold(graph, model, suffix)["filter"], (model, suffix)
        [refused] = graph.one(ALERT, f"{prefix(model)}monitoring-throttled").state["conditions"]
        assert service_label in refused["conditionMatchedLog"]["filter"], model
        assert threshold(graph, model, "latency-p99")["thresholdValue"] == latency, model
        assert threshold(graph, model, "server-errors")["thresholdValue"] == 5, model


@each_model
def test_alert_documentation_rolls_back_the_model_it_is_about(fork_graphs, model):
    policy = fork_graphs["prod"].one(ALERT, f"{prefix(model)}monitoring-server-errors")
    content = policy.state["documentation"]["content"]
    assert f"**{service('prod', model)}** (region us-central1" in content
    assert f"`make rollback-gcp STACK=prod MODEL={model}`" in content
    assert policy.state["displayName"].startswith(f"{service('prod', model)}: ")


@each_model
def test_each_model_has_a_dashboard_of_its_own_service(fork_graphs, model):
    graph = fork_graphs["prod"]
    definition = json.loads(
        graph.one(DASHBOARD, f"{prefix(model)}monitoring-dashboard").state["dashboardJson"]
    )
    service_label = f'resource.labels.service_name = "{service("prod", model)}"'
    filters = [
        dataset["timeSeriesQuery"]["timeSeriesFilter"]["filter"]
        for tile in definition["mosaicLayout"]["tiles"]
        for dataset in tile["widget"].get("xyChart", {}).get("dataSets", [])
    ]
    assert filters and all(service_label in f for f in filters), model
    charted = {
        t["widget"]["alertChart"]["name"]
        for t in definition["mosaicLayout"]["tiles"]
        if "alertChart" in t["widget"]
    }
    assert charted == {
        f"projects/acme-ml-test/alertPolicies/{prefix(model)}monitoring-{s}"
        for s in ("server-errors", "latency-p99", "throttled", "uptime")
    }


def test_one_email_channel_serves_every_models_policies(program, two_models):
    graph = program("prod", "alertEmail=oncall@acme.com", models=two_models)
    channel = graph.one(CHANNEL)
    assert channel.name == "alerts-email"
    policies = graph.of_type(ALERT)
    assert len(policies) == 2 * 4
    assert all(p.state["notificationChannels"] == [channel.id] for p in policies)


# --- invokers ---------------------------------------------------------------------------------


def test_every_models_service_admits_the_configured_invokers(program, two_models):
    member = "serviceAccount:caller@acme.iam.gserviceaccount.com"
    graph = program("prod", f'invokers=["{member}"]', models=two_models)
    granted = {
        (r.name, r.state["name"], r.state["member"])
        for r in graph.of_type(RUN_INVOKER)
        if not r.name.endswith("uptime-check")
    }
    assert granted == {
        (
            f"{prefix(m)}invokers-serviceaccount-caller-acme-iam-gserviceaccount-com",
            service("prod", m),
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
        archive = graph.one(OBJECT, f"{prefix(model)}source-archive")
        assert models[model]["url"] == state["url"]
        assert models[model]["function_name"] == state["name"]
        assert models[model]["source_object"] == archive.state["name"]
        assert models[model]["source_pinned"] is False


def test_the_primary_models_outputs_stay_at_the_top_level(fork_graphs):
    # Where a stack of the primary model alone has them: its callers and tools keep working
    outputs = fork_graphs["prod"].outputs
    assert outputs["primary_model"] == "iris"
    for key in ("url", "curl", "function_name", "source_object", "dashboard_url"):
        assert outputs[key] == outputs["models"]["iris"][key], key
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
    graph = program("prod", f'sourceObjects={{"wine": "{pinned}"}}', models=two_models)
    # THEN wine builds from it and uploads nothing; iris is unaffected
    assert function_of(graph, "wine")["buildConfig"]["source"]["storageSource"]["object"] == pinned
    assert [o.name for o in graph.of_type(OBJECT)] == ["source-archive"]
    models = graph.outputs["models"]
    assert (models["wine"]["source_object"], models["wine"]["source_pinned"]) == (pinned, True)
    assert models["iris"]["source_pinned"] is False


def test_the_primary_is_pinned_by_source_object_as_when_it_was_alone(program, two_models):
    pinned = f"sklearn-inference-prod/source-{'ab' * 32}.zip"
    graph = program("prod", f"sourceObject={pinned}", models=two_models)
    assert function_of(graph, "iris")["buildConfig"]["source"]["storageSource"]["object"] == pinned
    assert [o.name for o in graph.of_type(OBJECT)] == ["wine-source-archive"]
    assert graph.outputs["source_pinned"] is True


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        # wine's prod min_instances 2 against the stack's maxInstances 1
        (
            ["maxInstances=1"],
            "models.toml [models.wine] (stack prod): need 0 <= min_instances <= the stack's "
            "maxInstances, got 2 and 1",
        ),
        (
            [f'sourceObjects={{"wine": "sklearn-inference-prod/source-{"ab" * 32}.zip"}}'],
            "Pulumi.prod.yaml: sourceObjects.wine must name a bundle of this function, "
            "sklearn-inference-prod-wine/source-<sha256>.zip",
        ),
    ],
)
def test_invalid_model_settings_stop_the_program_with_one_line_naming_the_model(
    refusal, two_models, overrides, problem
):
    [line] = refusal("prod", *overrides, models=two_models)
    assert line.startswith(problem)
