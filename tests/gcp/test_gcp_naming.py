"""Names that never move: a model's function, URL and Pulumi URNs depend on that model alone, so
adding, removing or reordering models never renames, moves or replaces another's resources.

Four forks of tests/conftest.py, each run as a prod stack with an alert e-mail and an invoker
(so every kind of resource exists): the reference model alone, with wine, with wine and cellar,
and wine alone (the reference removed).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from program_runs import Graph, Resource
from test_gcp_program import CHANNEL, FUNCTION

from tests.conftest import write_fork

FORKS = ("one", "two", "three", "wine_alone")
MEMBER = "group:ml@acme.com"


def masked(resource: Resource) -> dict:
    """Its inputs, but where its fork's checkout lies (a bundle's local file)."""
    state = dict(resource.state)
    if "source" in state:
        state["source"] = "<the bundle's file in the fork's build/>"
    return state


@pytest.fixture(scope="session")
def one_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """models.toml of a fork serving the reference model alone, as this repository does."""
    return write_fork(tmp_path_factory.mktemp("fork1"), ("iris",))


@pytest.fixture(scope="session")
def forks(program, one_model, two_models, three_models, wine_alone) -> dict[str, Graph]:
    declarations = dict(zip(FORKS, (one_model, two_models, three_models, wine_alone), strict=True))
    return {
        fork: program("prod", "alertEmail=oncall@acme.com", f'invokers=["{MEMBER}"]', models=path)
        for fork, path in declarations.items()
    }


def urns(graph: Graph) -> set[str]:
    return {r.urn for r in graph.resources}


def functions(graph: Graph) -> dict[str, str]:
    """Model label -> function (and Cloud Run service) name."""
    return {r.state["labels"]["model"]: r.state["name"] for r in graph.of_type(FUNCTION)}


# --- function names and URLs ------------------------------------------------------------------


def test_the_primary_model_keeps_its_function_and_url_whatever_joins_it(forks):
    for fork in ("one", "two", "three"):
        assert functions(forks[fork])["iris"] == "sklearn-inference-prod", fork
        assert forks[fork].outputs["url"] == forks["one"].outputs["url"], fork
        assert forks[fork].outputs["function_name"] == "sklearn-inference-prod", fork


def test_every_other_model_is_served_at_its_own_name_whatever_else_is_declared(forks):
    assert functions(forks["two"]) == {
        "iris": "sklearn-inference-prod",
        "wine": "sklearn-inference-prod-wine",
    }
    assert functions(forks["three"]) == {
        "iris": "sklearn-inference-prod",
        "wine": "sklearn-inference-prod-wine",
        "cellar": "sklearn-inference-prod-cellar",
    }
    assert functions(forks["wine_alone"]) == {"wine": "sklearn-inference-prod-wine"}


# --- URNs -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("before", "after"), [("one", "two"), ("two", "three"), ("one", "three")])
def test_adding_a_model_keeps_every_urn_and_changes_no_input(forks, before, after):
    # Nothing the stack had is renamed (a new URN is a delete and a create for Pulumi), and
    # nothing is even updated in place: the new model only adds resources of its own.
    old, new = forks[before], forks[after]
    assert urns(old) <= urns(new), sorted(urns(old) - urns(new))
    changed = [r.urn for r in old.resources if masked(r) != masked(new.by_urn(r.urn))]
    assert changed == []


def test_the_first_models_urns_are_identical_for_one_two_and_three_models(forks):
    # The primary's own resources: the one-model stack's, less what every fork shares
    shared = urns(forks["one"]) & urns(forks["wine_alone"])
    iris = urns(forks["one"]) - shared
    assert any(urn.endswith("::inference-function") for urn in iris)
    for fork in ("two", "three"):
        assert iris <= urns(forks[fork]), fork


def test_removing_the_reference_model_removes_only_its_own_resources(forks):
    two, wine_alone, one = urns(forks["two"]), urns(forks["wine_alone"]), urns(forks["one"])
    # wine keeps every URN it had next to iris; what goes is exactly what iris alone added
    assert wine_alone <= two, sorted(wine_alone - two)
    assert two - wine_alone == one - wine_alone
    assert two - one == wine_alone - one


def test_a_model_added_after_others_takes_only_names_of_its_own(forks):
    added = urns(forks["three"]) - urns(forks["two"])
    assert added and all("cellar-" in urn.rsplit("::", 1)[1] for urn in added), sorted(added)


# --- what the stack owns ----------------------------------------------------------------------


def test_the_email_channel_belongs_to_the_stack_and_never_moves(forks):
    channel_urns = {fork: forks[fork].one(CHANNEL).urn for fork in FORKS}
    assert len(set(channel_urns.values())) == 1, channel_urns
    for fork in FORKS:
        policies = forks[fork].of_type("gcp:monitoring/alertPolicy:AlertPolicy")
        assert {tuple(p.state["notificationChannels"]) for p in policies} == {
            (forks[fork].one(CHANNEL).id,)
        }, fork


def test_the_channel_a_stack_of_one_model_had_is_kept_not_replaced(forks):
    # Before models.toml, the one model's Monitoring component owned `monitoring-email`. The
    # alias names that URN, so Pulumi moves the channel instead of replacing it.
    graph = forks["one"]
    [alias] = [a for a in graph.one(CHANNEL).aliases if a["name"]]
    monitoring = graph.one("sklearn-inference:gcp:Monitoring", "monitoring")
    # The mocks prefix root-level URNs with the stack's type; the engine does not.
    assert alias == {
        "name": "monitoring-email",
        "type": "",
        "parent": monitoring.urn.replace("pulumi:pulumi:Stack$", ""),
    }


# --- outputs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fork", FORKS)
def test_every_model_is_in_the_models_output(forks, fork):
    outputs = forks[fork].outputs
    assert {name: o["function_name"] for name, o in outputs["models"].items()} == functions(
        forks[fork]
    )


def test_a_stack_without_the_primary_model_has_no_top_level_model_outputs(forks):
    outputs = forks["wine_alone"].outputs
    assert not {"primary_model", "url", "function_name", "source_object"} & set(outputs)
    assert outputs["models"]["wine"]["url"].endswith("/sklearn-inference-prod-wine")
