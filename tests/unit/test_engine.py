"""The Run state machine: scenarios, then properties over random DAGs."""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.api import (
    ConditionStatus,
    DataflowSpec,
    FunctionCode,
    FunctionSpec,
    NodePhase,
    ObjectMeta,
    Run,
    RunPhase,
    RunSpec,
    RunStatus,
    find_condition,
)
from headwater.engine import Decision, ObservedNode, format_duration, step
from headwater.fingerprint import fingerprints
from headwater.graph import build_graph
from headwater.reuse import Earlier, plan
from headwater.snapshot import Snapshot

T0 = datetime(2025, 6, 12, 10, 0, tzinfo=UTC)


def passthrough(inputs: int) -> FunctionSpec:
    params = [f"p{i}" for i in range(inputs)]
    return FunctionSpec(
        handler="f",
        code={"inline": f"def f({', '.join(params)}): return 1"},
        params=[{"name": p} for p in params],
        outputs=["out"],
    )


def dag(edges: dict[str, list[str]]) -> Snapshot:
    """A snapshot whose node `n` outputs `n` and reads the outputs of `edges[n]`."""
    nodes = [
        {"name": n, "function": f"f{len(ups)}", "inputs": {f"p{i}": u for i, u in enumerate(ups)}}
        | {"outputs": [n]}
        for n, ups in edges.items()
    ]
    functions = {f"f{len(ups)}": passthrough(len(ups)) for ups in edges.values()}
    return Snapshot(dataflow=DataflowSpec(nodes=nodes), functions=functions)


def make_run(name: str = "r1", **spec: object) -> Run:
    return Run(
        metadata=ObjectMeta(name=name, generation=3),
        spec=RunSpec(dataflow="d", **spec),
    )


@dataclass
class Simulator:
    """A tiny executor: runs what the engine starts, finishes nodes when told."""

    run: Run
    snapshot: Snapshot
    observed: dict[str, ObservedNode] = field(default_factory=dict)
    now: datetime = T0
    starts: list[str] = field(default_factory=list)

    def step(self) -> Decision:
        decision = step(self.run, self.snapshot, self.observed, self.now, store_root="/store")
        for n in decision.start:
            assert n not in self.observed, f"{n} started twice"
            self.observed[n] = ObservedNode(NodePhase.RUNNING, started_at=self.now, job=f"j-{n}")
            self.starts.append(n)
        self.run = self.run.model_copy(update={"status": decision.status})
        return decision

    def finish(self, node: str, phase: NodePhase = NodePhase.SUCCEEDED, **extra: object) -> None:
        running = self.observed[node]
        uri = f"/store/runs/{self.run.metadata.name}/{node}/{node}"
        outputs = {node: uri} if phase == NodePhase.SUCCEEDED else None
        self.observed[node] = ObservedNode(
            phase,
            started_at=running.started_at,
            finished_at=self.now,
            exit_code=0 if phase == NodePhase.SUCCEEDED else 1,
            outputs=outputs,
            job=running.job,
            **extra,  # type: ignore[arg-type]
        )

    def running(self) -> list[str]:
        return sorted(n for n, o in self.observed.items() if o.phase == NodePhase.RUNNING)

    @property
    def status(self) -> RunStatus:
        assert self.run.status is not None
        return self.run.status


def succeeded_condition(status: RunStatus):
    condition = find_condition(status.conditions, "Succeeded")
    assert condition is not None
    return condition


DIAMOND = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}


def test_fan_out_starts_level_by_level_and_succeeds() -> None:
    sim = Simulator(make_run(), dag(DIAMOND))
    first = sim.step()
    assert first.start == ["a"]
    assert sim.status.phase == RunPhase.RUNNING
    assert sim.status.started_at == T0
    assert sim.status.observed_generation == 3
    assert succeeded_condition(sim.status).status == ConditionStatus.UNKNOWN
    assert sim.status.progress == "0/4"

    sim.finish("a")
    assert sim.step().start == ["b", "c"]
    sim.finish("b")
    assert sim.step().start == []  # d still waits for c
    sim.finish("c")
    assert sim.step().start == ["d"]
    sim.now = T0 + timedelta(minutes=5)
    sim.finish("d")
    sim.step()

    status = sim.status
    assert status.phase == RunPhase.SUCCEEDED
    assert status.progress == "4/4"
    assert status.finished_at == sim.now
    condition = succeeded_condition(status)
    assert (condition.status, condition.reason) == (ConditionStatus.TRUE, "Succeeded")
    running = find_condition(status.conditions, "Running")
    assert running is not None and running.status == ConditionStatus.FALSE
    assert status.outputs == {"d": "/store/runs/r1/d/d"}
    # Unremarkable values are left out to keep the status small.
    assert status.nodes["a"].exit_code is None
    assert status.nodes["a"].attempts is None
    assert status.nodes["a"].outputs is None
    assert status.nodes["a"].job is None


def test_failure_skips_descendants_while_independent_branch_finishes() -> None:
    edges = {"a": [], "b": ["a"], "c": ["b"], "x": [], "y": ["x"]}
    sim = Simulator(make_run(), dag(edges))
    assert sim.step().start == ["a", "x"]
    sim.finish("a", NodePhase.FAILED, message="ValueError: bad radar")
    decision = sim.step()
    assert decision.start == []
    assert sim.status.phase == RunPhase.RUNNING  # x is still running
    assert sim.status.nodes["b"].phase == NodePhase.SKIPPED
    assert sim.status.nodes["c"].phase == NodePhase.SKIPPED
    assert "a" in (sim.status.nodes["c"].message or "")

    sim.finish("x")
    assert sim.step().start == ["y"]
    sim.finish("y")
    sim.step()

    status = sim.status
    assert status.phase == RunPhase.FAILED
    assert {n: s.phase for n, s in status.nodes.items()} == {
        "a": NodePhase.FAILED,
        "b": NodePhase.SKIPPED,
        "c": NodePhase.SKIPPED,
        "x": NodePhase.SUCCEEDED,
        "y": NodePhase.SUCCEEDED,
    }
    condition = succeeded_condition(status)
    assert (condition.status, condition.reason) == (ConditionStatus.FALSE, "NodeFailed")
    assert "node a failed: ValueError: bad radar" in condition.message
    assert status.nodes["a"].job == "j-a"  # where to look for the logs
    assert status.nodes["a"].exit_code == 1
    # Progress counts successes: a failed run never reads 5/5.
    assert status.progress == "2/5"
    assert (status.node_counts.succeeded, status.node_counts.failed) == (2, 1)
    assert status.node_counts.skipped == 2
    assert condition.message.startswith("2/5 nodes succeeded, 1 failed, 2 skipped")
    finished = find_condition(status.conditions, "Finished")
    assert finished is not None and finished.status == ConditionStatus.TRUE
    assert status.outputs == {"y": "/store/runs/r1/y/y"}  # c was skipped: no output


def test_parallelism_caps_running_nodes() -> None:
    edges = {f"n{i}": [] for i in range(5)}
    sim = Simulator(make_run(parallelism=2), dag(edges))
    assert sim.step().start == ["n0", "n1"]
    assert sim.step().start == []  # both still running
    sim.finish("n1")
    assert sim.step().start == ["n2"]
    sim.finish("n0")
    sim.finish("n2")
    assert sim.step().start == ["n3", "n4"]


def test_stop_cancels_pending_and_stops_running() -> None:
    sim = Simulator(make_run(), dag({"a": [], "b": ["a"], "x": []}))
    sim.step()
    sim.run = sim.run.model_copy(update={"spec": sim.run.spec.model_copy(update={"stop": True})})
    decision = sim.step()
    assert decision.start == []
    assert decision.stop == ["a", "x"]
    assert sim.status.phase == RunPhase.RUNNING
    assert sim.status.nodes["b"].phase == NodePhase.CANCELLED
    assert succeeded_condition(sim.status).reason == "Stopping"

    sim.finish("a", NodePhase.CANCELLED)
    sim.finish("x", NodePhase.CANCELLED)
    sim.step()
    assert sim.status.phase == RunPhase.CANCELLED
    condition = succeeded_condition(sim.status)
    assert (condition.status, condition.reason) == (ConditionStatus.FALSE, "Stopped")
    assert {s.phase for s in sim.status.nodes.values()} == {NodePhase.CANCELLED}


def test_timeout_stops_running_nodes_and_fails() -> None:
    sim = Simulator(make_run(timeout_seconds=60), dag({"a": [], "b": ["a"]}))
    first = sim.step()
    assert first.wake_at == T0 + timedelta(seconds=60)
    sim.now = T0 + timedelta(seconds=59)
    assert sim.step().stop == []
    sim.now = T0 + timedelta(seconds=60)
    decision = sim.step()
    assert decision.stop == ["a"]
    assert sim.status.nodes["b"].phase == NodePhase.CANCELLED
    sim.finish("a", NodePhase.CANCELLED)
    sim.step()
    assert sim.status.phase == RunPhase.FAILED
    condition = succeeded_condition(sim.status)
    assert (condition.status, condition.reason) == (ConditionStatus.FALSE, "Timeout")


def resuming(first: Simulator, run: Run, snapshot: Snapshot) -> Simulator:
    """A Simulator of `run` resuming from `first`, its snapshot planned as the executors
    plan it."""
    before = build_graph(first.snapshot.dataflow, first.snapshot.functions)
    earlier = Earlier(
        first.run.metadata.name,
        first.snapshot,
        before,
        fingerprints(first.snapshot, before, first.run.spec.parameters, first.run.spec.env),
        first.status.nodes,
        "/store",
    )
    graph = build_graph(snapshot.dataflow, snapshot.functions)
    prints = fingerprints(snapshot, graph, run.spec.parameters, run.spec.env)
    decided = plan(graph, snapshot, prints, earlier, None, T0)
    planned = snapshot.model_copy(update={"reuse": decided.reuse, "reasons": decided.reasons})
    return Simulator(run, planned)


def test_resume_reuses_the_succeeded_nodes_whose_fingerprint_is_the_same() -> None:
    # In the previous run a and c succeeded, b failed, so d was skipped.
    first = Simulator(make_run("r0"), dag(DIAMOND))
    first.step()
    first.finish("a")
    first.step()
    first.finish("b", NodePhase.FAILED)
    first.finish("c")
    first.step()
    assert first.status.phase == RunPhase.FAILED

    sim = resuming(first, make_run("r1", resume_from="r0"), dag(DIAMOND))
    assert sim.step().start == ["b"]
    for n in ("a", "c"):
        node = sim.status.nodes[n]
        assert node.phase == NodePhase.SUCCEEDED
        assert node.reused_from == "r0"
        # Not at r1's conventional location, so listed.
        assert node.outputs == {n: f"/store/runs/r0/{n}/{n}"}
    sim.finish("b")
    assert sim.step().start == ["d"]
    sim.finish("d")
    sim.step()
    assert sim.status.phase == RunPhase.SUCCEEDED
    assert sim.starts == ["b", "d"]
    assert sim.status.nodes["b"].message == "ran: it did not succeed in run r0"


def valued(threshold: object) -> tuple[Run, Snapshot]:
    """load(threshold) → filter; a Run binding the free input `threshold`."""
    load = FunctionSpec(
        handler="f",
        code={"inline": "def f(threshold): return threshold"},
        params=[{"name": "threshold", "type": "value"}],
        outputs=["out"],
    )
    nodes = [
        {"name": "load", "function": "load", "inputs": ["threshold"], "outputs": ["t"]},
        {"name": "keep", "function": "f1", "inputs": {"p0": "t"}, "outputs": ["kept"]},
        {"name": "other", "function": "f0", "outputs": ["o"]},
    ]
    snapshot = Snapshot(
        dataflow=DataflowSpec(nodes=nodes),
        functions={"load": load, "f1": passthrough(1), "f0": passthrough(0)},
    )
    run = make_run("r1", resume_from="r0", parameters={"threshold": {"value": threshold}})
    return run, snapshot


def test_resume_with_a_changed_value_reruns_what_depends_on_it_and_says_why() -> None:
    """The stale reuse: a Run resumed from one bound to 1e9, now bound to 50, must not
    return the old result."""
    old_run, old_snapshot = valued(1e9)
    first = Simulator(old_run.model_copy(update={"metadata": ObjectMeta(name="r0")}), old_snapshot)
    first.step()
    for n in ("load", "other"):
        first.finish(n)
    first.step()
    first.finish("keep")
    first.step()
    assert first.status.phase == RunPhase.SUCCEEDED

    run, snapshot = valued(50)
    sim = resuming(first, run, snapshot)
    assert sim.step().start == ["load"]
    assert sim.status.nodes["other"].reused_from == "r0"
    sim.finish("load")
    assert sim.step().start == ["keep"]
    sim.finish("keep")
    sim.step()
    assert sim.status.phase == RunPhase.SUCCEEDED
    assert sim.status.nodes["load"].message == "ran: a value it is given changed since run r0"
    assert sim.status.nodes["keep"].message == (
        "ran: an upstream result it reads changed since run r0"
    )


def test_resume_with_changed_code_reruns_that_node_and_its_descendants_only() -> None:
    first = Simulator(make_run("r0"), dag(DIAMOND))
    for _ in range(4):
        first.step()
        for n in first.running():
            first.finish(n)
    first.step()
    assert first.status.phase == RunPhase.SUCCEEDED
    changed = dag(DIAMOND)
    edited = changed.functions["f1"].model_copy(
        update={"code": FunctionCode(inline="def f(p0): return 2")}
    )
    # b and c use f1; give b its own edited copy so only b (and d below it) change.
    functions = {**changed.functions, "f1-edited": edited}
    nodes = [
        n.model_copy(update={"function": "f1-edited"}) if n.id == "b" else n
        for n in changed.dataflow.nodes
    ]
    snapshot = Snapshot(dataflow=DataflowSpec(nodes=nodes), functions=functions)
    sim = resuming(first, make_run("r1", resume_from="r0"), snapshot)
    assert sim.step().start == ["b"]
    assert {n for n, s in sim.status.nodes.items() if s.reused_from} == {"a", "c"}
    sim.finish("b")
    assert sim.step().start == ["d"]
    assert "code" in (sim.status.nodes["b"].message or "")


def test_step_on_a_terminal_run_changes_nothing() -> None:
    sim = Simulator(make_run(), dag({"a": []}))
    sim.step()
    sim.finish("a")
    sim.step()
    finished = sim.status
    assert finished.phase == RunPhase.SUCCEEDED
    sim.now = T0 + timedelta(hours=1)
    again = sim.step()
    assert again.start == [] and again.stop == []
    assert again.status == finished


def test_node_asked_to_start_but_not_yet_observed_is_asked_again() -> None:
    run = make_run(parallelism=1)
    snapshot = dag({"a": [], "b": []})
    first = step(run, snapshot, {}, T0)
    assert first.start == ["a"]
    # The executor has not shown a's Job yet: ask again, and keep b waiting.
    run = run.model_copy(update={"status": first.status})
    again = step(run, snapshot, {}, T0 + timedelta(seconds=1))
    assert again.start == ["a"]
    assert again.status.nodes["a"].started_at == T0


def test_failed_node_is_never_restarted() -> None:
    sim = Simulator(make_run(retries=3), dag({"a": []}))
    sim.step()
    sim.finish("a", NodePhase.FAILED, attempts=4)
    assert sim.step().start == []
    assert sim.status.nodes["a"].attempts == 4
    assert sim.status.phase == RunPhase.FAILED


def test_cycle_fails_the_run_with_a_clear_reason() -> None:
    decision = step(make_run(), dag({"a": ["b"], "b": ["a"]}), {}, T0)
    assert decision.start == []
    assert decision.status.phase == RunPhase.FAILED
    condition = succeeded_condition(decision.status)
    assert condition.reason == "InvalidDataflow"
    assert "a -> b -> a" in condition.message or "b -> a -> b" in condition.message


def test_status_of_a_5000_node_run_stays_small() -> None:
    edges = {f"node-{i:04d}": ([f"node-{i - 1:04d}"] if i % 10 else []) for i in range(5000)}
    snapshot = dag(edges)
    observed = {
        n: ObservedNode(
            NodePhase.SUCCEEDED,
            started_at=T0,
            finished_at=T0,
            exit_code=0,
            outputs={n: f"s3://bucket/store/runs/rionowcast-20250612/{n}/{n}"},
            job=f"rionowcast-20250612-{n}-0",
        )
        for n in edges
    }
    run = make_run("rionowcast-20250612")
    decision = step(run, snapshot, observed, T0, store_root="s3://bucket/store")
    assert decision.status.phase == RunPhase.SUCCEEDED
    assert len(decision.status.outputs) == 500  # the last node of each chain
    # Kubernetes stores compact JSON; half the etcd limit leaves room for spec, metadata
    # and managedFields.
    size = len(json.dumps(decision.status.to_wire(), separators=(",", ":")))
    assert size < 1_500_000 // 2, size


# Properties over random DAGs -------------------------------------------------------


@st.composite
def random_dags(draw: st.DrawFn) -> dict[str, list[str]]:
    size = draw(st.integers(min_value=1, max_value=12))
    names = [f"n{i}" for i in range(size)]
    # Edges only from earlier to later nodes keep it acyclic; order is then shuffled.
    edges = {
        name: sorted(draw(st.sets(st.sampled_from(names[:i]), max_size=3)) if i else [])
        for i, name in enumerate(names)
    }
    order = draw(st.permutations(names))
    return {n: edges[n] for n in order}


def drive(sim: Simulator, fail: str | None, choose: st.DataObject) -> None:
    """Step until the run ends, finishing one random running node between steps."""
    parallelism = sim.run.spec.parallelism
    graph = build_graph(sim.snapshot.dataflow, sim.snapshot.functions)
    for _ in range(100):
        decision = sim.step()
        for n in decision.start:
            upstream = graph.deps[n]
            assert all(sim.observed[u].phase == NodePhase.SUCCEEDED for u in upstream), n
        if parallelism is not None:
            assert len(sim.running()) <= parallelism
        if sim.status.phase in (RunPhase.SUCCEEDED, RunPhase.FAILED, RunPhase.CANCELLED):
            return
        running = sim.running()
        assert running, "a run in progress with nothing running would hang"
        node = choose.draw(st.sampled_from(running))
        sim.finish(node, NodePhase.FAILED if node == fail else NodePhase.SUCCEEDED)
    raise AssertionError("the run did not finish")


@settings(max_examples=150, deadline=None)
@given(edges=random_dags(), parallelism=st.none() | st.integers(1, 4), data=st.data())
def test_every_node_runs_once_after_its_upstream(
    edges: dict[str, list[str]], parallelism: int | None, data: st.DataObject
) -> None:
    sim = Simulator(make_run(parallelism=parallelism), dag(edges))
    drive(sim, None, data)
    assert sorted(sim.starts) == sorted(edges)
    assert sim.status.phase == RunPhase.SUCCEEDED
    assert sim.status.progress == f"{len(edges)}/{len(edges)}"


@settings(max_examples=150, deadline=None)
@given(edges=random_dags(), parallelism=st.none() | st.integers(1, 4), data=st.data())
def test_a_failure_skips_exactly_its_descendants(
    edges: dict[str, list[str]], parallelism: int | None, data: st.DataObject
) -> None:
    fail = data.draw(st.sampled_from(sorted(edges)))
    snapshot = dag(edges)
    descendants = build_graph(snapshot.dataflow, snapshot.functions).descendants(fail)
    sim = Simulator(make_run(parallelism=parallelism), snapshot)
    drive(sim, fail, data)

    phases = {n: s.phase for n, s in sim.status.nodes.items()}
    assert phases[fail] == NodePhase.FAILED
    for n in edges:
        if n in descendants:
            assert phases[n] == NodePhase.SKIPPED
            assert fail in (sim.status.nodes[n].message or "")
        elif n != fail:
            assert phases[n] == NodePhase.SUCCEEDED
    assert set(sim.starts) == set(edges) - descendants
    assert len(sim.starts) == len(set(sim.starts))
    assert sim.status.phase == RunPhase.FAILED


def test_a_run_stopped_before_it_starts_ends_cancelled_at_once() -> None:
    decision = step(make_run(stop=True), dag(DIAMOND), {}, T0)
    assert decision.start == [] and decision.stop == []
    status = decision.status
    assert status.phase == RunPhase.CANCELLED
    assert status.progress == "0/4"
    assert status.node_counts.cancelled == 4
    assert status.started_at == status.finished_at == T0
    assert {s.phase for s in status.nodes.values()} == {NodePhase.CANCELLED}


def test_durations_read_like_kubectl() -> None:
    assert format_duration(timedelta(seconds=45.7)) == "45s"
    assert format_duration(timedelta(minutes=3, seconds=7)) == "3m7s"
    assert format_duration(timedelta(hours=2, minutes=5, seconds=9)) == "2h5m"


def test_outputs_reported_by_declared_name_are_known_by_wired_name() -> None:
    sim = Simulator(make_run(), dag({"a": [], "b": ["a"]}))
    sim.step()
    running = sim.observed["a"]
    uri = "/store/runs/r1/a/a"
    sim.observed["a"] = ObservedNode(
        NodePhase.SUCCEEDED,
        started_at=running.started_at,
        finished_at=sim.now,
        exit_code=0,
        outputs={"out": uri},  # the runner speaks of the function's own output name
    )
    sim.step()
    assert sim.status.nodes["a"].outputs is None, "a conventional location is left out"
    moved = "/elsewhere/a"
    sim.observed["b"] = ObservedNode(NodePhase.SUCCEEDED, outputs={"out": moved}, exit_code=0)
    sim.step()
    assert sim.status.nodes["b"].outputs == {"b": moved}
    assert sim.status.outputs == {"b": moved}


def test_small_final_values_reach_the_status_and_stay_when_the_pod_is_gone() -> None:
    edges = {"a": [], "b": ["a"]}
    sim = Simulator(make_run(), dag(edges))
    sim.step()
    sim.finish("a")
    sim.step()
    running = sim.observed["b"]
    sim.observed["b"] = ObservedNode(
        NodePhase.SUCCEEDED,
        started_at=running.started_at,
        finished_at=sim.now,
        exit_code=0,
        values={"out": {"auc": 0.91}},  # by the function's declared name
        job=running.job,
    )
    sim.step()
    assert sim.status.phase == RunPhase.SUCCEEDED
    assert sim.status.output_values == {"b": {"auc": 0.91}}, "by the wired name"
    # A finished run keeps what it said; a step that no longer sees the Pod keeps it too.
    assert step(sim.run, sim.snapshot, {}, sim.now).status.output_values == {"b": {"auc": 0.91}}
