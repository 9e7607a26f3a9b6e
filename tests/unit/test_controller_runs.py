"""The Run reconciler's decisions that need no API server: a recreated Run waiting for
the old one's Jobs and Pods, what it reads of its Jobs, the optimistic status write and
its retry on a conflict, an unreadable status left alone, and its bounded memory.

`Writes` stands in for the calls of our Kube the tested paths make; it records
them. Nothing here talks to Kubernetes; e2e tests do that."""

from datetime import UTC, datetime, timedelta

import pytest

from headwater.api import (
    DataflowSpec,
    FunctionSpec,
    NodePhase,
    Run,
    RunPhase,
    RunStatus,
)
from headwater.controller.cache import ObjectCache
from headwater.controller.kube import Conflict
from headwater.controller.naming import NODE_LABEL, RUN_LABEL, job_name
from headwater.controller.runs import (
    JOB_DEADLINE_MARGIN_SECONDS,
    PLURAL,
    SNAPSHOTS_KEPT,
    WARNING_RECHECK_SECONDS,
    RunReconciler,
    _seconds_left,
    with_job_names,
)
from headwater.controller.settings import OperatorSettings
from headwater.controller.snapshots import NotReady
from headwater.controller.workqueue import WorkQueue
from headwater.snapshot import Snapshot

NS = "team-a"
T0 = datetime(2026, 6, 12, 10, 0, tzinfo=UTC)


class Writes:
    """Status writes and Events, as our Kube would make them; `conflicts` writes lose."""

    def __init__(self, conflicts: int = 0, fresh: dict | None = None) -> None:
        self.conflicts = conflicts
        self.fresh = fresh
        self.statuses: list[dict] = []
        self.events: list[tuple[str, str]] = []
        self.jobs: list[dict] = []
        self.warnings: list[dict] = []

    def create_jobs(self, manifests: list[dict]) -> tuple[list[dict], dict[str, str]]:
        self.jobs.extend(manifests)
        return manifests, {}

    def warnings_about(self, namespace: str, kind: str, name: str) -> list[dict]:
        return self.warnings

    def replace_status(self, plural: str, body: dict, status: dict) -> dict | None:
        if self.conflicts:
            self.conflicts -= 1
            raise Conflict("changed since it was read")
        self.statuses.append(status)
        version = str(int(body["metadata"]["resourceVersion"]) + 1)
        return {
            **body,
            "metadata": {**body["metadata"], "resourceVersion": version},
            "status": status,
        }

    def get_run(self, namespace: str, name: str) -> dict | None:
        return self.fresh

    def event(self, involved: dict, reason: str, message: str, warning: bool = False) -> None:
        self.events.append((reason, message))


def snapshot(*nodes: str) -> Snapshot:
    return Snapshot(
        dataflow=DataflowSpec(nodes=[{"name": n, "function": "f"} for n in nodes]),
        functions={"f": FunctionSpec(handler="f", code={"inline": "def f(): ..."})},
    )


def reconciler(writes: Writes | None = None) -> RunReconciler:
    return RunReconciler(writes or Writes(), ObjectCache(), WorkQueue(), OperatorSettings())  # type: ignore[arg-type]


def run_body(uid: str = "uid-new", status: dict | None = None, **spec: object) -> dict:
    body = {
        "apiVersion": "headwater.dev/v1alpha1",
        "kind": "Run",
        "metadata": {
            "name": "r1",
            "namespace": NS,
            "uid": uid,
            "generation": 1,
            "resourceVersion": "10",
        },
        "spec": {"dataflow": "flow", **spec},
    }
    if status is not None:
        body["status"] = status
    return body


def owned(kind: str, name: str, node: str, uid: str, **extra: object) -> dict:
    metadata = {
        "name": name,
        "namespace": NS,
        "uid": f"{kind}-{name}-{uid}",
        "labels": {RUN_LABEL: "r1", NODE_LABEL: node},
        "ownerReferences": [{"kind": "Run", "name": "r1", "uid": uid}],
        **extra,
    }
    return {"metadata": metadata, "status": {}}


# A Run made again under the name of a deleted one.


@pytest.mark.parametrize("kind", ["jobs", "pods"])
def test_a_recreated_run_waits_while_the_old_runs_jobs_or_pods_remain(kind: str) -> None:
    found = reconciler()
    found.cache.put(kind, owned(kind, "old", "a", uid="uid-old"))
    run = Run.model_validate(run_body())
    with pytest.raises(NotReady) as caught:
        found._make_way(run)
    assert caught.value.reason == "PreviousRunCleanup"
    assert f"the {kind} of the previous Run r1 to go" in str(caught.value)
    found.cache.remove(kind, NS, "old")
    found._make_way(run)


def test_a_recreated_run_pays_no_heed_to_its_own_jobs() -> None:
    found = reconciler()
    found.cache.put("jobs", owned("jobs", job_name("r1", "a"), "a", uid="uid-new"))
    found._make_way(Run.model_validate(run_body()))


def test_a_recreated_run_that_waits_says_so_in_its_status_and_creates_nothing() -> None:
    writes = Writes()
    found = reconciler(writes)
    found.cache.put(PLURAL, run_body())
    found.cache.put("pods", owned("pods", "old-pod", "a", uid="uid-old"))
    found.reconcile(NS, "r1")
    (status,) = writes.statuses
    assert status["phase"] == "Pending"
    succeeded = next(c for c in status["conditions"] if c["type"] == "Succeeded")
    assert succeeded["reason"] == "PreviousRunCleanup"


# What the reconciler reads of its Jobs.


def test_jobs_of_an_earlier_run_by_the_same_name_are_not_this_runs() -> None:
    found = reconciler()
    found.cache.put("jobs", owned("jobs", "old-a", "a", uid="uid-old"))
    found.cache.put("jobs", owned("jobs", job_name("r1", "b"), "b", uid="uid-new"))
    run = Run.model_validate(run_body())
    frozen = found._hold("uid-new", snapshot("a", "b"))
    observed, stuck = found._observe(run, frozen.graph, T0)
    assert set(observed) == {"b"} and stuck == {}


def test_a_running_node_whose_job_is_gone_after_a_stop_is_cancelled() -> None:
    found = reconciler()
    status = {"phase": "Running", "nodes": {"a": {"phase": "Running", "attempts": 1}}}
    run = Run.model_validate(run_body(status=status, stop=True))
    frozen = found._hold("uid-new", snapshot("a"))
    observed, _ = found._observe(run, frozen.graph, T0)
    assert observed["a"].phase == NodePhase.CANCELLED and observed["a"].finished_at == T0
    running = Run.model_validate(run_body(status=status))
    assert found._observe(running, frozen.graph, T0)[0] == {}, "without a stop it is unknown"


def creating_pod(node: str, created: datetime) -> dict:
    pod = owned("pods", f"{node}-pod", node, uid="uid-new", creationTimestamp=stamp(created))
    pod["status"] = {
        "phase": "Pending",
        "containerStatuses": [
            {"name": "node", "state": {"waiting": {"reason": "ContainerCreating"}}}
        ],
    }
    return pod


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_node_costs_one_status_write_from_its_start_until_it_finishes() -> None:
    """The status that starts a node names its Job, and a Pod being created is news to
    nobody: neither the Job's nor the Pod's first events change the status."""
    writes = Writes()
    found = reconciler(writes)
    found.cache.put(PLURAL, run_body())
    found._hold("uid-new", snapshot("a"))
    found.reconcile(NS, "r1")
    (started,) = writes.statuses
    assert started["nodes"]["a"]["phase"] == "Running"
    assert started["nodes"]["a"]["job"] == job_name("r1", "a")
    (job,) = writes.jobs
    found.cache.put("jobs", {**job, "status": {"active": 1, "startTime": stamp(T0)}})
    found.cache.put("pods", creating_pod("a", datetime.now(UTC)))
    found.reconcile(NS, "r1")
    assert len(writes.statuses) == 1


def test_only_running_nodes_without_a_job_are_given_its_name() -> None:
    status = RunStatus.model_validate(
        {
            "phase": "Running",
            "nodes": {
                "new": {"phase": "Running"},
                "named": {"phase": "Running", "job": "kept"},
                "waiting": {"phase": "Pending"},
                "done": {"phase": "Succeeded"},
            },
        }
    )
    nodes = with_job_names(status, "r1").nodes
    assert nodes["new"].job == job_name("r1", "new")
    assert (nodes["named"].job, nodes["waiting"].job, nodes["done"].job) == ("kept", None, None)


def test_a_pod_slow_to_create_is_named_as_waiting_but_never_failed_for_it() -> None:
    writes = Writes()
    found = reconciler(writes)
    run = Run.model_validate(run_body(status={"phase": "Running"}))
    found.cache.put("jobs", owned("jobs", job_name("r1", "a"), "a", uid="uid-new"))
    frozen = found._hold("uid-new", snapshot("a"))
    found.cache.put("pods", creating_pod("a", T0))
    soon = T0 + timedelta(seconds=WARNING_RECHECK_SECONDS / 2)
    observed, _ = found._observe(run, frozen.graph, soon)
    assert observed["a"].message is None
    late = T0 + timedelta(seconds=found.settings.pod_start_timeout * 10)
    observed, stuck = found._observe(run, frozen.graph, late)
    assert observed["a"].message == "waiting: ContainerCreating" and stuck == {}
    writes.warnings = [{"reason": "FailedMount", "message": 'configmap "gone" not found'}]
    found.mount_warnings.clear()
    observed, stuck = found._observe(run, frozen.graph, late)
    assert set(stuck) == {"a"}
    assert observed["a"].message == 'waiting: FailedMount: configmap "gone" not found'


# The status write.


def test_a_status_equal_to_the_stored_one_is_not_written() -> None:
    writes = Writes()
    found = reconciler(writes)
    stored = RunStatus(phase=RunPhase.PENDING).to_wire()
    assert found._write(run_body(status=stored), None, RunStatus(phase=RunPhase.PENDING))
    assert writes.statuses == []


def test_a_write_that_lost_a_race_reads_the_run_again_and_queues_it() -> None:
    fresh = run_body()
    fresh["metadata"]["resourceVersion"] = "11"
    writes = Writes(conflicts=1, fresh=fresh)
    found = reconciler(writes)
    found.cache.put(PLURAL, run_body())
    assert not found._write(run_body(), None, RunStatus(phase=RunPhase.RUNNING))
    assert writes.statuses == []
    assert found.cache.get(PLURAL, NS, "r1")["metadata"]["resourceVersion"] == "11"
    assert found.queue.get(timeout=0) == (PLURAL, NS, "r1")


def test_a_written_status_is_held_in_the_cache_at_once() -> None:
    writes = Writes()
    found = reconciler(writes)
    found.cache.put(PLURAL, run_body())
    assert found._write(run_body(), None, RunStatus(phase=RunPhase.RUNNING))
    held = found.cache.get(PLURAL, NS, "r1")
    assert held["metadata"]["resourceVersion"] == "11" and held["status"]["phase"] == "Running"


def test_an_unreadable_status_is_left_alone_and_said_once() -> None:
    writes = Writes()
    found = reconciler(writes)
    found.cache.put(PLURAL, run_body(status={"phase": "Paused"}))  # a newer operator's
    for _ in range(3):
        found.reconcile(NS, "r1")
    assert writes.statuses == []
    assert [reason for reason, _ in writes.events] == ["StatusUnreadable"]
    assert "left as it is" in writes.events[0][1]


def test_an_unreadable_spec_fails_the_run_with_invalid_spec() -> None:
    writes = Writes()
    found = reconciler(writes)
    found.cache.put(PLURAL, run_body(parallelism="many"))
    found.reconcile(NS, "r1")
    (status,) = writes.statuses
    assert status["phase"] == "Failed"
    assert {c["reason"] for c in status["conditions"]} == {"InvalidSpec"}


# Deadlines and memory.


def test_a_nodes_job_deadline_is_what_is_left_of_the_run_timeout_plus_a_margin() -> None:
    run = Run.model_validate(run_body(timeoutSeconds=600))
    started = RunStatus(started_at=T0)
    assert _seconds_left(run, started, T0 + timedelta(seconds=100)) == (
        500 + JOB_DEADLINE_MARGIN_SECONDS
    )
    assert _seconds_left(run, started, T0 + timedelta(hours=1)) == 1 + JOB_DEADLINE_MARGIN_SECONDS
    assert _seconds_left(run, RunStatus(), T0) is None
    assert _seconds_left(Run.model_validate(run_body()), started, T0) is None


def test_snapshots_held_in_memory_are_bounded_and_the_least_recent_goes_first() -> None:
    found = reconciler()
    small = snapshot("a")
    for i in range(SNAPSHOTS_KEPT + 10):
        found._hold(f"uid-{i}", small)
    assert len(found.frozen) == SNAPSHOTS_KEPT
    assert "uid-0" not in found.frozen and f"uid-{SNAPSHOTS_KEPT + 9}" in found.frozen


def test_a_deleted_snapshot_drops_the_held_copy_and_queues_its_run() -> None:
    found = reconciler()
    found._hold("uid-new", snapshot("a"))
    found.snapshot_deleted(
        {
            "metadata": {
                "name": "s",
                "namespace": NS,
                "ownerReferences": [{"kind": "Run", "name": "r1", "uid": "uid-new"}],
            }
        }
    )
    assert "uid-new" not in found.frozen
    assert found.queue.get(timeout=0) == (PLURAL, NS, "r1")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_finished_run_with_a_ttl_is_looked_at_again_when_it_is_due() -> None:
    writes, clock = Writes(), Clock()
    found = RunReconciler(writes, ObjectCache(), WorkQueue(clock), OperatorSettings())  # type: ignore[arg-type]
    finished_at = (datetime.now(UTC) - timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    finished = {"phase": "Succeeded", "finishedAt": finished_at}
    found.cache.put(PLURAL, run_body(status=finished, ttlSecondsAfterFinished=60))
    found.reconcile(NS, "r1")
    clock.now += 25
    assert found.queue.get(timeout=0) is None, "not before it is due"
    clock.now += 10
    assert found.queue.get(timeout=0) == (PLURAL, NS, "r1")
    assert writes.statuses == [] and writes.events == []
