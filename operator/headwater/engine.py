"""The pure state machine of a Run, driven by both executors.

Each call to `step` is level-triggered: from the Run (its spec and last status), the
frozen snapshot and what the executor observes of the nodes it started, it computes
which nodes to start and stop and the complete new status. No I/O: the local executor
calls it in a loop, the operator on every reconcile.

Rules, in the order `step` applies them:
- A finished run stays as it is.
- A node the executor observed is never started again; retries are the executor's
  (a Job's backoffLimit), so a Failed node stays Failed.
- A node is ready when all its upstream nodes Succeeded; ready nodes start in
  topological order, at most `parallelism` running at once.
- A node downstream of one that failed (or was cancelled) is Skipped; independent
  branches run on, and the run fails once nothing is running.
- `stop` or the timeout: nothing new starts, running nodes are stopped, pending ones
  are Cancelled; once nothing runs the run ends Cancelled (stop) or Failed (Timeout).
- With `resumeFrom`, a node that Succeeded in that run is reused when all its upstream
  nodes are reused too.

Small status: a 5,000-node run must fit far below etcd's 1.5 MiB, so a node's status
leaves out what says nothing new: attempts when 1, the exit code (0) and Job of a
Succeeded node (its Job is still found by its run and node labels), and outputs at
their conventional location `{store}/runs/{run}/{node}/{name}` (known from
`store_root`; `planning.output_uris` derives them). The run's final outputs are always
listed in full.

A node the engine asked to start but the executor does not yet show stays startable:
starting is idempotent in both executors (Job names are deterministic), so asking
again is safe, while forgetting it would hang the run.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from headwater.api import (
    ConditionStatus,
    NodeCounts,
    NodePhase,
    NodeStatus,
    Run,
    RunPhase,
    RunStatus,
    set_condition,
)
from headwater.graph import Graph, build_graph
from headwater.planning import output_uris
from headwater.snapshot import Snapshot
from headwater.status_budget import expand

SUCCEEDED = "Succeeded"
"""The condition that is the contract: Unknown while running, True or False at the end."""
RUNNING = "Running"
"""True while the run has work under way."""
FINISHED = "Finished"
"""True once the run has ended, whatever the outcome, so that
`kubectl wait --for=condition=Finished` returns on failures too."""

MAX_NODE_MESSAGE = 1024
"""Node messages are cut to this length: the status must stay small."""
MAX_LISTED_NODES = 5
"""How many failed nodes a condition message names before it says "and N more"."""
MAX_OUTPUT_VALUES_BYTES = 16 * 1024
"""All small final values in a status together, as compact JSON."""
MAX_BLAMED_NODES = 3
"""How many failed upstream nodes a skipped node's message names."""

TERMINAL_PHASES = frozenset({RunPhase.SUCCEEDED, RunPhase.FAILED, RunPhase.CANCELLED})


class Reason(StrEnum):
    """Reasons of the Succeeded and Running conditions."""

    PENDING = "Pending"
    RUNNING = "Running"
    STOPPING = "Stopping"
    TIMING_OUT = "TimingOut"
    SUCCEEDED = "Succeeded"
    NODE_FAILED = "NodeFailed"
    NODE_CANCELLED = "NodeCancelled"
    TIMEOUT = "Timeout"
    STOPPED = "Stopped"
    INVALID_DATAFLOW = "InvalidDataflow"


@dataclass(frozen=True)
class ObservedNode:
    """What the executor sees of a node it started."""

    phase: NodePhase
    """RUNNING, SUCCEEDED or FAILED; CANCELLED when the executor stopped it. PENDING
    (created, not yet running) counts as running."""
    attempts: int = 1
    exit_code: int | None = None
    message: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    outputs: dict[str, str] | None = None
    """Wired output name → URI, as the runner reported them."""
    job: str | None = None
    """The Job running it, in a cluster."""
    values: dict[str, object] | None = None
    """Declared output name → small plain-JSON value, as the runner reported it."""


@dataclass(frozen=True)
class Decision:
    """What the executor should do now, and the run's complete new status."""

    start: list[str]
    """Node ids to start now, in topological order."""
    stop: list[str]
    """Running node ids to stop (stop flag, timeout)."""
    status: RunStatus
    """The complete new status."""
    wake_at: datetime | None = field(default=None)
    """When to step again even if nothing changes: the timeout deadline."""


def step(
    run: Run,
    snapshot: Snapshot,
    observed: Mapping[str, ObservedNode],
    now: datetime,
    *,
    store_root: str | None = None,
    graph: Graph | None = None,
) -> Decision:
    """The next move of `run`. `store_root` lets the engine fill in where a node's
    outputs are when the executor did not report them; pass `graph` to skip rebuilding
    it. Nodes the snapshot's reuse plan names take their earlier results."""
    status = run.status or RunStatus()
    if status.phase in TERMINAL_PHASES:
        return Decision(start=[], stop=[], status=status)

    graph = graph or build_graph(snapshot.dataflow, snapshot.functions)
    status = status.model_copy(update={"nodes": expand(status, graph.node_ids)})
    started_at = status.started_at or now
    generation = run.metadata.generation
    if graph.cycles:
        cycle = " -> ".join(graph.cycles[0])
        return Decision(
            start=[],
            stop=sorted(n for n, seen in observed.items() if not seen.phase.finished),
            status=_finish(
                status,
                RunPhase.FAILED,
                Reason.INVALID_DATAFLOW,
                f"the dataflow has a cycle: {cycle}",
                {},
                {},
                now,
                started_at,
                generation,
            ),
        )

    nodes, asked_before = _observe(graph, snapshot, status, observed, run.metadata.name, store_root)
    _reuse(graph, snapshot, nodes, observed)
    _skip_blocked(graph, nodes, observed)

    deadline = (
        started_at + timedelta(seconds=run.spec.timeout_seconds)
        if run.spec.timeout_seconds
        else None
    )
    timed_out = deadline is not None and now >= deadline
    halting = timed_out or run.spec.stop
    if halting:
        start: list[str] = []
        stop = [n for n in graph.order if _active(n, observed)]
        note = f"run timed out after {run.spec.timeout_seconds}s" if timed_out else "run stopped"
        for n in graph.order:
            if nodes[n].phase == NodePhase.PENDING and n not in observed:
                nodes[n] = NodeStatus(phase=NodePhase.CANCELLED, message=note)
    else:
        stop = []
        start = _schedule(graph, nodes, observed, asked_before, run.spec.parallelism)
        for n in start:
            nodes[n] = NodeStatus(phase=NodePhase.RUNNING, started_at=_started(status, n) or now)

    busy = bool(start) or any(_active(n, observed) for n in graph.order)
    outputs = _final_outputs(graph, nodes, run.metadata.name, store_root)
    if busy or not all(s.phase.finished for s in nodes.values()):
        new_status = _in_progress(
            status, nodes, outputs, now, started_at, generation, timed_out, run.spec.stop
        )
    else:
        phase, reason, message = _outcome(nodes, timed_out, run.spec.stop, run)
        new_status = _finish(
            status, phase, reason, message, nodes, outputs, now, started_at, generation
        )
    values = _final_values(graph, nodes, status, observed, snapshot)
    new_status = new_status.model_copy(update={"output_values": values})
    wake_at = deadline if deadline is not None and not timed_out and busy else None
    return Decision(start=start, stop=stop, status=new_status, wake_at=wake_at)


def _final_values(
    graph: Graph,
    nodes: Mapping[str, NodeStatus],
    status: RunStatus,
    observed: Mapping[str, ObservedNode],
    snapshot: Snapshot,
) -> dict[str, object]:
    """Small plain-JSON final outputs of succeeded nodes, as their runner reported them
    (or as the status kept them once the Pod that said so is gone), within a budget."""
    values: dict[str, object] = {}
    used = 0
    for name in graph.final_outputs:
        producer = graph.producers[name][0]
        if nodes[producer].phase != NodePhase.SUCCEEDED or nodes[producer].reused_from:
            continue
        seen = observed.get(producer)
        reported = _wired_outputs(seen, snapshot, graph, producer).values if seen else None
        if reported and name in reported:
            value = reported[name]
        elif name in status.output_values:
            value = status.output_values[name]
        else:
            continue
        cost = len(json.dumps({name: value}, separators=(",", ":")))
        if used + cost > MAX_OUTPUT_VALUES_BYTES:
            break
        values[name] = value
        used += cost
    return values


def retrying(failed_attempts: int, retries: int, why: str | None) -> str:
    """What a node being retried says, in both executors: the attempt that failed and
    why, so that a retry does not hide a failure."""
    text = f"attempt {failed_attempts} of {retries + 1} failed"
    return f"{text}: {why}; retrying" if why else f"{text}; retrying"


def _active(node_id: str, observed: Mapping[str, ObservedNode]) -> bool:
    seen = observed.get(node_id)
    return seen is not None and not seen.phase.finished


def _started(status: RunStatus, node_id: str) -> datetime | None:
    recorded = status.nodes.get(node_id)
    return recorded.started_at if recorded is not None else None


def _observe(
    graph: Graph,
    snapshot: Snapshot,
    status: RunStatus,
    observed: Mapping[str, ObservedNode],
    run_name: str,
    store_root: str | None,
) -> tuple[dict[str, NodeStatus], set[str]]:
    """Each node's status from what the executor shows, else what the status recorded.

    Also returns the nodes the engine asked to start earlier that the executor does not
    show yet: they go first when slots are handed out, as they may exist already.
    """
    nodes = {}
    asked_before = set()
    for n in graph.order:
        recorded = status.nodes.get(n)
        seen = observed.get(n)
        if seen is not None:
            renamed = _wired_outputs(seen, snapshot, graph, n)
            reason = snapshot.reasons.get(n)
            nodes[n] = _from_observed(n, renamed, recorded, graph, run_name, store_root, reason)
        elif recorded is not None and recorded.phase.finished:
            nodes[n] = recorded
        else:
            if recorded is not None and recorded.phase == NodePhase.RUNNING:
                asked_before.add(n)
            nodes[n] = NodeStatus()
    return nodes, asked_before


def _wired_outputs(
    seen: ObservedNode, snapshot: Snapshot, graph: Graph, node_id: str
) -> ObservedNode:
    """The runner reports outputs by the function's declared names; the status and
    downstream nodes know them by the names the dataflow wires (renamed positionally)."""
    function = snapshot.functions.get(graph.nodes[node_id].function)
    if not (seen.outputs or seen.values) or function is None:
        return seen
    rename = dict(zip(function.outputs, graph.outputs[node_id], strict=False))
    outputs = {rename.get(name, name): uri for name, uri in (seen.outputs or {}).items()}
    values = {rename.get(name, name): value for name, value in (seen.values or {}).items()}
    return replace(seen, outputs=outputs or None, values=values or None)


def _from_observed(
    node_id: str,
    seen: ObservedNode,
    recorded: NodeStatus | None,
    graph: Graph,
    run_name: str,
    store_root: str | None,
    reason: str | None = None,
) -> NodeStatus:
    """The node's status, leaving out what says nothing new (see "Small status"); a
    success says only why it ran instead of being reused, when it could have been."""
    succeeded = seen.phase == NodePhase.SUCCEEDED
    outputs = seen.outputs or None
    conventional = output_uris(store_root, run_name, node_id, graph) if store_root else None
    if outputs == conventional:
        outputs = None
    # A success needs no words, and 5,000 of them would weigh on the status.
    message = reason if succeeded else seen.message
    if message is not None and len(message) > MAX_NODE_MESSAGE:
        message = message[: MAX_NODE_MESSAGE - 1] + "…"
    return NodeStatus(
        phase=NodePhase.RUNNING if seen.phase == NodePhase.PENDING else seen.phase,
        attempts=seen.attempts if seen.attempts != 1 else None,
        job=None if succeeded else seen.job,
        # When the engine asked for it, not when the Job says its Pod began: a status that
        # does not change when a Pod starts costs no write.
        started_at=(recorded.started_at if recorded else None) or seen.started_at,
        finished_at=seen.finished_at,
        exit_code=None if succeeded and seen.exit_code == 0 else seen.exit_code,
        message=message,
        outputs=outputs,
    )


def _reuse(
    graph: Graph,
    snapshot: Snapshot,
    nodes: dict[str, NodeStatus],
    observed: Mapping[str, ObservedNode],
) -> None:
    """Mark the nodes the reuse plan names as succeeded with the earlier outputs, known
    here by this dataflow's wired names (the function declares them in the same order:
    its fingerprint says so)."""
    for n, reused in snapshot.reuse.items():
        if n not in nodes or nodes[n].phase != NodePhase.PENDING or n in observed:
            continue
        outputs = dict(zip(graph.outputs[n], reused.outputs, strict=False))
        how = "from the cache" if reused.cached else "by resumeFrom"
        source = reused.run if reused.node == n else f"{reused.run} (node {reused.node})"
        nodes[n] = NodeStatus(
            phase=NodePhase.SUCCEEDED,
            outputs=outputs or None,
            reused_from=reused.run,
            message=f"reused {how}: the outputs of run {source}, same fingerprint",
        )


def _skip_blocked(
    graph: Graph, nodes: dict[str, NodeStatus], observed: Mapping[str, ObservedNode]
) -> None:
    """Skip every pending node downstream of a node that failed or was cancelled,
    naming the nodes at the root of it."""
    roots: dict[str, frozenset[str]] = {}
    for n in graph.order:
        phase = nodes[n].phase
        if phase in (NodePhase.FAILED, NodePhase.CANCELLED):
            roots[n] = frozenset({n})
            continue
        if phase != NodePhase.PENDING or n in observed:
            continue
        blocked_by = frozenset().union(*(roots[u] for u in graph.deps[n] if u in roots))
        if blocked_by:
            roots[n] = blocked_by
            nodes[n] = NodeStatus(
                phase=NodePhase.SKIPPED,
                message=f"upstream {_name_some(sorted(blocked_by), MAX_BLAMED_NODES)}"
                " did not succeed",
            )


def _schedule(
    graph: Graph,
    nodes: Mapping[str, NodeStatus],
    observed: Mapping[str, ObservedNode],
    asked_before: set[str],
    parallelism: int | None,
) -> list[str]:
    position = {n: i for i, n in enumerate(graph.order)}
    done = {n for n, s in nodes.items() if s.phase == NodePhase.SUCCEEDED}
    todo = (n for n, s in nodes.items() if s.phase == NodePhase.PENDING and n not in observed)
    ready = sorted(graph.ready(todo, done), key=lambda n: (n not in asked_before, position[n]))
    if parallelism is not None:
        running = sum(1 for n in graph.order if _active(n, observed))
        ready = ready[: max(parallelism - running, 0)]
    return sorted(ready, key=position.__getitem__)


def _final_outputs(
    graph: Graph, nodes: Mapping[str, NodeStatus], run_name: str, store_root: str | None
) -> dict[str, str]:
    """Final output name → URI, for those whose producer succeeded. A node's outputs at
    their conventional location are left out of its own status, so they are derived."""
    outputs = {}
    for name in graph.final_outputs:
        producer = graph.producers[name][0]
        node = nodes.get(producer)
        if node is None or node.phase != NodePhase.SUCCEEDED:
            continue
        if node.outputs and name in node.outputs:
            outputs[name] = node.outputs[name]
        elif store_root is not None and node.reused_from is None:
            outputs[name] = output_uris(store_root, run_name, producer, graph)[name]
    return outputs


def _progress(nodes: Mapping[str, NodeStatus]) -> str:
    """Succeeded (or reused) nodes over all: a run that failed never reads 4/4."""
    succeeded = sum(1 for s in nodes.values() if s.phase == NodePhase.SUCCEEDED)
    return f"{succeeded}/{len(nodes)}"


def _counts(nodes: Mapping[str, NodeStatus]) -> NodeCounts:
    tally = {phase: 0 for phase in NodePhase}
    for node in nodes.values():
        tally[node.phase] += 1
    return NodeCounts(
        succeeded=tally[NodePhase.SUCCEEDED],
        failed=tally[NodePhase.FAILED],
        running=tally[NodePhase.RUNNING],
        pending=tally[NodePhase.PENDING],
        skipped=tally[NodePhase.SKIPPED],
        cancelled=tally[NodePhase.CANCELLED],
    )


def _tally(nodes: Mapping[str, NodeStatus]) -> str:
    """`3/5 nodes succeeded, 1 failed, 1 skipped`: the progress and what went wrong."""
    counts = _counts(nodes)
    parts = [f"{_progress(nodes)} nodes succeeded"]
    for count, word in (
        (counts.failed, "failed"),
        (counts.skipped, "skipped"),
        (counts.cancelled, "cancelled"),
    ):
        if count:
            parts.append(f"{count} {word}")
    return ", ".join(parts)


def _in_progress(
    status: RunStatus,
    nodes: dict[str, NodeStatus],
    outputs: dict[str, str],
    now: datetime,
    started_at: datetime,
    generation: int | None,
    timed_out: bool,
    stopping: bool,
) -> RunStatus:
    failed = [n for n, s in nodes.items() if s.phase == NodePhase.FAILED]
    if timed_out:
        reason, message = Reason.TIMING_OUT, "timed out; waiting for running nodes to stop"
    elif stopping:
        reason, message = Reason.STOPPING, "stop requested; waiting for running nodes to stop"
    else:
        reason = Reason.RUNNING
        message = _tally(nodes)
        retrying = [
            f"node {n}: {s.message}"
            for n, s in nodes.items()
            if s.phase == NodePhase.RUNNING and s.message
        ]
        if retrying:
            message += "; " + "; ".join(retrying[:MAX_LISTED_NODES])
        if failed:
            message += f"; {_describe_failures(nodes, failed)}; waiting for the other branches"
    conditions = set_condition(
        status.conditions, SUCCEEDED, ConditionStatus.UNKNOWN, reason, message, generation, now
    )
    conditions = set_condition(conditions, RUNNING, True, reason, message, generation, now)
    conditions = set_condition(conditions, FINISHED, False, reason, message, generation, now)
    return RunStatus(
        phase=RunPhase.RUNNING,
        conditions=conditions,
        progress=_progress(nodes),
        node_counts=_counts(nodes),
        started_at=started_at,
        nodes=nodes,
        outputs=outputs,
        observed_generation=generation,
    )


def _outcome(
    nodes: Mapping[str, NodeStatus], timed_out: bool, stopped: bool, run: Run
) -> tuple[RunPhase, Reason, str]:
    phases = [s.phase for s in nodes.values()]
    if all(p == NodePhase.SUCCEEDED for p in phases):
        return (
            RunPhase.SUCCEEDED,
            Reason.SUCCEEDED,
            ("the node succeeded" if len(phases) == 1 else f"all {len(phases)} nodes succeeded"),
        )
    if timed_out:
        return (
            RunPhase.FAILED,
            Reason.TIMEOUT,
            f"the run exceeded its timeout of {run.spec.timeout_seconds}s",
        )
    if stopped:
        return RunPhase.CANCELLED, Reason.STOPPED, "the run was stopped"
    failed = [n for n, s in nodes.items() if s.phase == NodePhase.FAILED]
    if failed:
        message = f"{_tally(nodes)}; {_describe_failures(nodes, failed)}"
        return RunPhase.FAILED, Reason.NODE_FAILED, message
    cancelled = sorted(n for n, s in nodes.items() if s.phase == NodePhase.CANCELLED)
    return (
        RunPhase.CANCELLED,
        Reason.NODE_CANCELLED,
        f"{_list_nodes(cancelled)} cancelled by the executor",
    )


def _describe_failures(nodes: Mapping[str, NodeStatus], failed: list[str]) -> str:
    shown = [
        f"node {n} failed" + (f": {nodes[n].message}" if nodes[n].message else "")
        for n in failed[:MAX_LISTED_NODES]
    ]
    more = len(failed) - len(shown)
    return "; ".join(shown) + (f"; and {more} more failed" if more else "")


def _list_nodes(names: list[str]) -> str:
    return _name_some(names, MAX_LISTED_NODES)


def _name_some(names: list[str], most: int) -> str:
    """`node a`, `nodes a, b`, `nodes a, b, c and 4 more`."""
    shown = ", ".join(names[:most])
    more = len(names) - most
    noun = "node" if len(names) == 1 else "nodes"
    return f"{noun} {shown}" + (f" and {more} more" if more > 0 else "")


def _finish(
    status: RunStatus,
    phase: RunPhase,
    reason: Reason,
    message: str,
    nodes: dict[str, NodeStatus],
    outputs: dict[str, str],
    now: datetime,
    started_at: datetime,
    generation: int | None,
) -> RunStatus:
    succeeded = phase == RunPhase.SUCCEEDED
    conditions = set_condition(
        status.conditions, SUCCEEDED, succeeded, reason, message, generation, now
    )
    conditions = set_condition(conditions, RUNNING, False, reason, message, generation, now)
    conditions = set_condition(conditions, FINISHED, True, reason, message, generation, now)
    return RunStatus(
        phase=phase,
        conditions=conditions,
        progress=_progress(nodes) if nodes else status.progress,
        node_counts=_counts(nodes) if nodes else status.node_counts,
        started_at=started_at,
        finished_at=now,
        duration=format_duration(now - started_at),
        nodes=nodes or status.nodes,
        outputs=outputs,
        observed_generation=generation,
    )


def format_duration(elapsed: timedelta) -> str:
    """Short and human, like kubectl: 45s, 3m7s, 2h5m."""
    seconds = max(0, int(elapsed.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m"
    if minutes:
        return f"{minutes}m{seconds}s"
    return f"{seconds}s"


def before_start(
    status: RunStatus | None,
    generation: int | None,
    reason: str,
    message: str,
    now: datetime,
    *,
    failed: bool,
) -> RunStatus:
    """The status of a Run that cannot start: Pending, waiting for something to appear
    (Succeeded Unknown), or Failed at once (an invalid dataflow, unreadable spec)."""
    status = status or RunStatus()
    outcome = False if failed else ConditionStatus.UNKNOWN
    conditions = set_condition(
        status.conditions, SUCCEEDED, outcome, reason, message, generation, now
    )
    conditions = set_condition(conditions, FINISHED, failed, reason, message, generation, now)
    return status.model_copy(
        update={
            "phase": RunPhase.FAILED if failed else RunPhase.PENDING,
            "conditions": conditions,
            "finished_at": now if failed else None,
            "observed_generation": generation,
        }
    )
