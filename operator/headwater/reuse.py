"""Which nodes of a starting Run take an earlier result instead of running: the plan
`resumeFrom` and the cache make, from fingerprints, once, when the Run starts. Both
executors call `plan` with what they know of the earlier run and of the cache; the plan
goes into the Run's snapshot, so it never changes while the Run is in flight.

A node is reused only when its fingerprint equals the earlier one. With resumeFrom, a
node that ran there and differs runs again, and the plan says what changed.

Pure: data in, data out.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from headwater.api import NodePhase, NodeStatus, Run, RunStatus
from headwater.fingerprint import Fingerprint, Unknown, fingerprints, what_changed
from headwater.graph import Graph
from headwater.planning import output_uris
from headwater.snapshot import ReusedNode, Snapshot


@dataclass(frozen=True)
class Earlier:
    """A finished run as a source of results."""

    name: str
    snapshot: Snapshot
    graph: Graph
    fingerprints: Mapping[str, Fingerprint | Unknown]
    nodes: Mapping[str, NodeStatus]
    """Every node's status, expanded."""
    store_root: str

    def result(self, node: str) -> ReusedNode | None:
        """Where the outputs of one of its succeeded nodes are."""
        status = self.nodes.get(node)
        if status is None or status.phase != NodePhase.SUCCEEDED:
            return None
        reused = self.snapshot.reuse.get(node)
        if reused is not None:
            return reused  # it took them from further back: point there
        uris = output_uris(self.store_root, self.name, node, self.graph)
        return ReusedNode(
            run=self.name, node=node, outputs=[uris[n] for n in self.graph.outputs[node]]
        )


@dataclass(frozen=True)
class CacheEntry:
    """One result the cache offers."""

    run: str
    node: str
    outputs: list[str]
    finished_at: datetime


@dataclass(frozen=True)
class Offer:
    """A result a finished run offers to the cache."""

    digest: str
    node: str
    function: str
    outputs: list[str]
    finished_at: datetime


def offers(
    run: Run, snapshot: Snapshot, graph: Graph, status: RunStatus, store_root: str, when: datetime
) -> list[Offer]:
    """What `run` computed itself (not what it reused) that later runs may take: its
    succeeded nodes with a known fingerprint whose Function allows caching. `when`
    stands in for a finish time the status lacks."""
    prints = fingerprints(snapshot, graph, run.spec.parameters, run.spec.env)
    earlier = Earlier(run.metadata.name, snapshot, graph, prints, status.nodes, store_root)
    offered = []
    for node, mine in prints.items():
        function = graph.nodes[node].function
        state = status.nodes.get(node)
        if not isinstance(mine, Fingerprint) or not snapshot.functions[function].cache:
            continue
        if state is None or state.phase != NodePhase.SUCCEEDED or state.reused_from:
            continue
        found = earlier.result(node)
        assert found is not None  # it succeeded
        offered.append(Offer(mine.digest, node, function, found.outputs, state.finished_at or when))
    return offered


@dataclass
class Plan:
    reuse: dict[str, ReusedNode] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)


def plan(
    graph: Graph,
    snapshot: Snapshot,
    fingerprints: Mapping[str, Fingerprint | Unknown],
    earlier: Earlier | None,
    cache: Mapping[str, CacheEntry] | None,
    now: datetime,
    max_age_seconds: int | None = None,
) -> Plan:
    """The reuse plan; `cache` maps fingerprint digests to entries (None: cache off)."""
    result = Plan()
    for node in graph.order:
        mine = fingerprints[node]
        if isinstance(mine, Unknown):
            if earlier is not None or cache is not None:
                result.reasons[node] = f"not reused: {mine.reason}"
            continue
        if earlier is not None:
            reused, reason = _from_earlier(node, mine, earlier)
            if reused is not None:
                result.reuse[node] = reused
                continue
            result.reasons[node] = reason
        function = snapshot.functions[graph.nodes[node].function]
        if cache is None or not function.cache:
            continue
        entry = cache.get(mine.digest)
        fresh = entry is not None and (
            max_age_seconds is None or entry.finished_at + timedelta(seconds=max_age_seconds) >= now
        )
        if entry is not None and fresh:
            result.reuse[node] = ReusedNode(
                run=entry.run, node=entry.node, outputs=entry.outputs, cached=True
            )
            result.reasons.pop(node, None)
        elif earlier is None:
            result.reasons[node] = "not in the cache" if entry is None else "cached result too old"
    return result


def _from_earlier(node: str, mine: Fingerprint, earlier: Earlier) -> tuple[ReusedNode | None, str]:
    theirs = earlier.fingerprints.get(node)
    if theirs is None:
        return None, f"ran: run {earlier.name} has no node {node}"
    found = earlier.result(node)
    if found is None:
        return None, f"ran: it did not succeed in run {earlier.name}"
    if isinstance(theirs, Unknown):
        return None, f"ran: its result in run {earlier.name} has no fingerprint"
    if theirs.digest != mine.digest:
        return None, f"ran: {what_changed(mine, theirs)} since run {earlier.name}"
    return found, ""
