"""make release-gcp / rollback-gcp: the release flow (gcp_release/flow.py) against fakes of the
Cloud Run Admin API, Cloud Monitoring and the stack's bucket in the shapes Google documents.

Every path ends with the traffic split the service holds, and none calls `pulumi up`: a
rollback, automatic or by hand, is a traffic change, never a rebuild.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from fake_google import FakeCloudRun, FakeMonitoring
from program_modules import load_release_tool
from program_runs import REPO_ROOT

from ops.checks import CheckResult
from ops.reference import load_reference

release_cli = load_release_tool()
from gcp_release import canary, flow, history  # noqa: E402
from gcp_release.cloud_run import CloudRun, ConcurrentChange  # noqa: E402
from gcp_release.history import Event  # noqa: E402
from gcp_release.probe import Expected, Prober  # noqa: E402
from gcp_release.revision_metrics import RevisionMetrics  # noqa: E402
from gcp_release.traffic import only  # noqa: E402

FN = "sklearn-inference-prod"
OLD, NEW = f"{FN}-00002-kev", f"{FN}-00003-zap"
REFERENCE = load_reference(REPO_ROOT / "model" / "artifacts")
TREE = Expected.from_reference(REFERENCE, "the working tree")


@dataclass
class FakeRecord:
    """The release record and bundles of the stack's bucket (storage.Bucket's methods)."""

    events: list[Event] = field(default_factory=list)
    manifests: dict[str, dict] = field(default_factory=dict)
    stamped: list[set[str]] = field(default_factory=list)

    def record(self, function):
        return list(self.events), len(self.events)

    def append(self, function, events, generation):
        assert generation == len(self.events), "written over what was read"
        self.events = list(events)

    def manifest(self, bundle):
        return self.manifests.get(bundle)

    def stamp(self, function, keep, now):
        self.stamped.append(set(keep))


@dataclass
class FakeProbe:
    """The checks through a tag URL and the canary's synthetic predictions, as scripted."""

    failing: set[str] = field(default_factory=set)  # check names that fail
    wrong_prediction: str | None = None
    checked: list[tuple[str, Expected]] = field(default_factory=list)
    predictions: int = 0

    def check(self, url, expected):
        self.checked.append((url, expected))
        names = ("health", "model_identity", "reference_predictions", "latency")
        return [CheckResult(n, n not in self.failing, "scripted") for n in names]

    def predict(self, url, reference):
        self.predictions += 1
        return self.wrong_prediction


class Clock:
    """monotonic time that moves only when the flow sleeps."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.start = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.t - 1000.0)


@dataclass
class World:
    run: FakeCloudRun
    monitoring: FakeMonitoring
    record: FakeRecord
    probe: FakeProbe
    clock: Clock
    said: list[str]

    def ports(self) -> flow.Ports:
        return flow.Ports(
            service=CloudRun(self.run, self.run, "acme-ml-test", "us-central1", FN),
            record=self.record,
            metrics=RevisionMetrics(self.monitoring, "acme-ml-test", FN),
            probe=self.probe,
            say=self.said.append,
            clock=self.clock.monotonic,
            sleep=self.clock.sleep,
            now=self.clock.now,
        )


def unit(percent: int = 10, minutes: int = 5, bundle: str = f"{FN}/source-new.zip") -> flow.Unit:
    return flow.Unit(
        None,
        FN,
        f"https://us-central1-acme-ml-test.cloudfunctions.net/{FN}",
        bundle,
        percent,
        minutes,
        1000,
    )


@pytest.fixture
def world() -> World:
    """OLD serves all traffic by name; `pulumi up` has just deployed NEW with none."""
    run = FakeCloudRun.serving(FN, f"{FN}-00001-abc", OLD)
    run.deploy(NEW)
    monitoring = FakeMonitoring(FN, requests={NEW: {"2xx": 60}}, p99_ms={NEW: 42.0})
    record = FakeRecord(
        [
            Event("2026-04-01T10:00:00+00:00", "released", f"{FN}-00001-abc", f"{FN}/source-a.zip"),
            Event("2026-04-20T10:00:00+00:00", "released", OLD, f"{FN}/source-b.zip"),
        ]
    )
    return World(run, monitoring, record, FakeProbe(), Clock(), [])


# --- the paths a release takes ----------------------------------------------------------------


def test_a_good_release_is_checked_through_its_tag_canaried_then_given_all_traffic(world):
    assert flow.release(unit(), TREE, world.ports()) == 0
    # THEN the service moved through exactly: tag, canary 90/10, all to NEW
    assert world.run.updates == [
        [
            {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": OLD, "percent": 100},
            {
                "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
                "revision": NEW,
                "tag": "candidate",
            },
        ],
        [
            {"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": OLD, "percent": 90},
            {
                "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
                "revision": NEW,
                "percent": 10,
                "tag": "candidate",
            },
        ],
        [{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION", "revision": NEW, "percent": 100}],
    ]
    assert (world.run.split(), world.run.tags()) == ({NEW: 100}, [])
    # the checks ran through the tag URL against the tree's model, the canary had its own traffic
    [(url, expected)] = world.probe.checked
    assert url == world.run.tag_url("candidate") and expected is TREE
    assert world.probe.predictions >= (5 * 60 + canary.SETTLE_SECONDS) / 0.5 - 1
    # the metrics read were the new revision's own
    assert world.monitoring.filters and all(
        f'resource.labels.revision_name = "{NEW}"' in f for f in world.monitoring.filters
    )
    assert world.record.events[-1].event == "released" and world.record.events[-1].revision == NEW
    # the bundles kept: NEW's and the rollback targets'
    assert world.record.stamped[-1] == {
        f"{FN}/source-new.zip",
        f"{FN}/source-b.zip",
        f"{FN}/source-a.zip",
    }


def test_a_failed_tag_check_puts_traffic_back_before_any_caller_reached_the_revision(world):
    world.probe.failing = {"reference_predictions"}
    assert flow.release(unit(), TREE, world.ports()) == 1
    assert (world.run.split(), world.run.tags()) == ({OLD: 100}, [])
    assert len(world.run.updates) == 2  # tag, then back: no canary was ever set
    assert world.probe.predictions == 0
    assert world.record.events[-1].event == "rejected"
    assert any("REJECTED" in line and "reference_predictions" in line for line in world.said)


def test_a_canary_breach_moves_traffic_back_at_the_first_reading(world):
    world.monitoring.requests[NEW] = {"2xx": 9, "5xx": 1}
    assert flow.release(unit(), TREE, world.ports()) == 1
    assert (world.run.split(), world.run.tags()) == ({OLD: 100}, [])
    # one poll (a minute in), not the whole window
    assert world.clock.t - 1000.0 == pytest.approx(canary.POLL_SECONDS, abs=1)
    assert any("1 5xx of 10 requests on the new revision" in line for line in world.said)


def test_a_canary_over_the_latency_threshold_is_rejected(world):
    world.monitoring.p99_ms[NEW] = 1800.0
    assert flow.release(unit(), TREE, world.ports()) == 1
    assert world.run.split() == {OLD: 100}


def test_a_canary_without_evidence_is_rejected_at_the_end_of_its_window(world):
    world.monitoring.requests[NEW] = {"2xx": 3}
    assert flow.release(unit(), TREE, world.ports()) == 1
    assert world.run.split() == {OLD: 100}
    assert any("no evidence" in line for line in world.said)


def test_a_wrong_synthetic_answer_during_the_canary_rejects_it(world):
    world.probe.wrong_prediction = "POST /predict answered 503 model_unavailable"
    assert flow.release(unit(), TREE, world.ports()) == 1
    assert world.run.split() == {OLD: 100}


def test_without_a_canary_the_checked_revision_gets_all_traffic_at_once(world):
    assert flow.release(unit(percent=0), TREE, world.ports()) == 0
    assert len(world.run.updates) == 2 and world.run.split() == {NEW: 100}
    assert world.probe.predictions == 0 and world.monitoring.filters == []


def test_an_interrupted_canary_puts_traffic_back_before_it_stops(world):
    ports = world.ports()

    def interrupted(seconds: float) -> None:
        world.clock.sleep(seconds)
        if world.clock.t - 1000.0 > 90:
            raise KeyboardInterrupt

    ports.sleep = interrupted
    with pytest.raises(KeyboardInterrupt):
        flow.release(unit(), TREE, ports)
    assert (world.run.split(), world.run.tags()) == ({OLD: 100}, [])


# --- a revision nobody can judge is not released -----------------------------------------------


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("how", ["refused", "timeout"])
def test_a_revision_that_cannot_be_reached_is_rejected(world, silent_port, how, monkeypatch):
    # GIVEN the tag URL leads nowhere (connection refused) or never answers (a hung revision)
    port = closed_port() if how == "refused" else silent_port
    monkeypatch.setattr(world.run, "tag_url", lambda tag: f"http://127.0.0.1:{port}")
    world.probe = Prober(timeout=0.5)  # the real checks
    # WHEN it is released THEN the verify that could not run rejects it, and traffic is back
    assert flow.release(unit(), TREE, world.ports()) == 1
    assert (world.run.split(), world.run.tags()) == ({OLD: 100}, [])
    assert any("FAIL reachable" in line for line in world.said)


# --- what a release finds before it starts ----------------------------------------------------


def test_a_service_following_latest_is_pinned_so_the_deploy_cannot_move_traffic():
    run = FakeCloudRun.serving(FN, OLD, follows_latest=True)
    world = World(run, FakeMonitoring(FN), FakeRecord(), FakeProbe(), Clock(), [])
    flow.prepare(unit(), world.ports())
    run.deploy(NEW)  # pulumi up
    assert run.split() == {OLD: 100}


def test_a_function_not_deployed_yet_has_nothing_to_pin(world, monkeypatch):
    from google.api_core.exceptions import NotFound

    def missing(name):
        raise NotFound(name)

    monkeypatch.setattr(world.run, "get_service", missing)
    flow.prepare(unit(), world.ports())
    assert world.run.updates == []
    assert any("is new: its first revision will serve at once" in line for line in world.said)


def test_a_new_revision_that_never_became_ready_leaves_traffic_alone(world):
    world.run.deploy(f"{FN}-00004-bad", ready=False)
    assert flow.release(unit(), TREE, world.ports()) == 1
    assert world.run.updates == [] and world.run.split() == {OLD: 100}
    assert any("Container failed to start" in line for line in world.said)


def test_nothing_new_to_release_changes_nothing():
    run = FakeCloudRun.serving(FN, OLD)
    world = World(run, FakeMonitoring(FN), FakeRecord(), FakeProbe(), Clock(), [])
    assert flow.release(unit(), TREE, world.ports()) == 0
    assert run.updates == []


def test_a_traffic_change_refuses_a_service_changed_by_someone_else(world):
    service = CloudRun(world.run, world.run, "acme-ml-test", "us-central1", FN)
    stale = service.state().etag
    world.run.generation += 1  # another operator's change
    with pytest.raises(ConcurrentChange):
        service.route(only(OLD), stale)


# --- rollback: a traffic change --------------------------------------------------------------


@pytest.fixture
def released(world) -> World:
    """NEW was released: it serves all traffic; OLD served before it."""
    assert flow.release(unit(percent=0), TREE, world.ports()) == 0
    world.run.updates.clear()
    world.probe.checked.clear()
    return world


def test_a_manual_rollback_moves_all_traffic_to_the_previous_revision_without_a_rebuild(released):
    released.record.manifests[f"{FN}/source-b.zip"] = {
        "name": "iris",
        "version": "0.9.0",
        "artifacts": {"onnx": {"sha256": "ab" * 32}},
    }
    assert flow.rollback(unit(), released.ports()) == 0
    assert (released.run.split(), released.run.tags()) == ({OLD: 100}, [])
    # OLD served nothing: it was checked through a tag first, against its own bundle's model
    [(url, expected)] = released.probe.checked
    assert url == released.run.tag_url("candidate")
    assert expected.model is not None and expected.model.version == "0.9.0"
    assert expected.reference is None
    event = released.record.events[-1]
    assert (event.event, event.revision, event.from_revision) == ("rolled_back", OLD, NEW)


def test_a_second_rollback_never_returns_to_the_revision_it_moved_away_from(released):
    assert flow.rollback(unit(), released.ports()) == 0  # NEW -> OLD
    assert flow.rollback(unit(), released.ports()) == 0  # OLD -> 00001, not back to NEW
    assert released.run.split() == {f"{FN}-00001-abc": 100}


def test_a_rollback_to_a_named_revision(released):
    assert flow.rollback(unit(), released.ports(), to=f"{FN}-00001-abc") == 0
    assert released.run.split() == {f"{FN}-00001-abc": 100}


def test_a_rollback_target_that_fails_its_check_gets_no_traffic(released):
    released.probe.failing = {"health"}
    assert flow.rollback(unit(), released.ports()) == 1
    assert (released.run.split(), released.run.tags()) == ({NEW: 100}, [])


@pytest.mark.parametrize(
    ("to", "message"),
    [
        (f"{FN}-09999-xyz", "has no revision"),
        (NEW, "serves all traffic already"),
    ],
)
def test_a_rollback_refuses_what_it_cannot_serve(released, to, message):
    with pytest.raises(flow.Unavailable, match=message):
        flow.rollback(unit(), released.ports(), to=to)
    assert released.run.updates == []


def test_a_rollback_with_nothing_recorded_asks_for_a_revision():
    run = FakeCloudRun.serving(FN, OLD, NEW)
    world = World(run, FakeMonitoring(FN), FakeRecord(), FakeProbe(), Clock(), [])
    with pytest.raises(flow.Unavailable, match=f"name one with TO=<revision> .*{OLD}"):
        flow.rollback(unit(), world.ports())


# --- the release record ----------------------------------------------------------------------


def test_rollback_targets_are_released_revisions_newest_first_except_those_left():
    events = [
        Event("t1", "released", "r1", "b1"),
        Event("t2", "released", "r2", "b2"),
        Event("t3", "rejected", "r3", "b3"),
        Event("t4", "released", "r4", "b4"),
        Event("t5", "rolled_back", "r2", "b2", from_revision="r4"),
    ]
    assert [e.revision for e in history.rollback_targets(events, "r2")] == ["r1"]
    assert history.bundles_to_keep(events, "r2") == {"b2", "b1"}
    assert [e.revision for e in history.rollback_targets(events, "r2", lambda r: r != "r1")] == []


def test_canary_rules_wait_for_the_window_before_asking_for_evidence():
    quiet = canary.Evidence(requests=2, server_errors=0, p99_ms=None)
    assert canary.problems(quiet, latency_p99_ms=1000, final=False) == []
    assert "no evidence" in canary.problems(quiet, latency_p99_ms=1000, final=True)[0]
