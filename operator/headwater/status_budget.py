"""A Run's status within a byte budget, whatever the run's size or outcome.

etcd refuses objects over 1.5 MiB, and a status that cannot be written leaves a Run
Running for ever with no word why. So the stored status is shaped here, in one place for
both executors, to stay under `STATUS_BUDGET` even for a 5,000-node run whose every node
failed with a long traceback under a 63-character name:

- every node's phase is kept, one letter per node in the dataflow's order
  (`nodePhases`), whenever `nodes` cannot list them all; that is all the engine needs to
  carry on, since Jobs (or processes) hold the rest;
- `nodes` lists full detail for as many nodes as fit, the most telling first (running,
  failed, cancelled, then the rest in order); `nodesOmitted` says how many are left out;
  the full record of every node attempt (message, traceback, times) is in the artifact
  store beside the node's outputs (`runs/<run>/<node>/.headwater/`), where it costs etcd
  nothing;
- final outputs are listed while they fit, then counted in `outputsOmitted`.

Pure: data in, data out.
"""

import json
from collections.abc import Mapping, Sequence

from headwater.api import NodePhase, NodeStatus, RunStatus

STATUS_BUDGET = 200 * 1024
"""The most bytes a stored status may take, as compact JSON; well under etcd's 1.5 MiB
so that spec, metadata and managedFields fit beside it."""
NODES_BUDGET = 120 * 1024
"""Bytes for the `nodes` detail map when not every node fits."""
OUTPUTS_BUDGET = 40 * 1024
"""Bytes for the final `outputs` map when not every output fits."""
SHORT_MESSAGE = 240
"""A listed node's message is cut to this many characters when not everything fits."""

PHASE_LETTERS: Mapping[NodePhase, str] = {
    NodePhase.PENDING: "P",
    NodePhase.RUNNING: "R",
    NodePhase.SUCCEEDED: "S",
    NodePhase.FAILED: "F",
    NodePhase.SKIPPED: "K",
    NodePhase.CANCELLED: "C",
}
REUSED_LETTER = "U"
"""Succeeded by reusing another run's outputs: the engine works out which run again."""
LETTER_PHASES: Mapping[str, NodePhase] = {
    **{letter: phase for phase, letter in PHASE_LETTERS.items()},
    REUSED_LETTER: NodePhase.SUCCEEDED,
}
PRIORITY: Mapping[NodePhase, int] = {
    NodePhase.RUNNING: 0,
    NodePhase.FAILED: 1,
    NodePhase.CANCELLED: 2,
    NodePhase.PENDING: 3,
    NodePhase.SUCCEEDED: 4,
    NodePhase.SKIPPED: 5,
}
"""Which nodes `nodes` shows first when not all fit: what a person looks for."""


def wire_size(value: object) -> int:
    """Bytes of `value` as the compact JSON the API server stores."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def letter(node: NodeStatus) -> str:
    if node.phase == NodePhase.SUCCEEDED and node.reused_from:
        return REUSED_LETTER
    return PHASE_LETTERS[node.phase]


def fit(status: RunStatus, order: Sequence[str]) -> RunStatus:
    """The status to store: as it is when it fits, else shaped as the module says.
    `order` is the dataflow's node ids in spec order, the key to `nodePhases`."""
    if wire_size(status.to_wire()) <= STATUS_BUDGET:
        return status
    nodes, omitted = _listed_nodes(status.nodes, order)
    outputs, outputs_omitted = _within(status.outputs, OUTPUTS_BUDGET)
    return status.model_copy(
        update={
            "nodes": nodes,
            "nodes_omitted": omitted or None,
            "node_phases": "".join(letter(status.nodes[n]) for n in order if n in status.nodes),
            "outputs": outputs,
            "outputs_omitted": outputs_omitted or None,
        }
    )


def expand(status: RunStatus, order: Sequence[str]) -> dict[str, NodeStatus]:
    """Every node's status from a stored status: the listed ones as they are, the others
    from `nodePhases` with only their phase. A reused node not listed comes back Pending,
    so that the engine reuses it again with its origin."""
    if not status.node_phases:
        return dict(status.nodes)
    nodes: dict[str, NodeStatus] = {}
    for node, code in zip(order, status.node_phases, strict=False):
        listed = status.nodes.get(node)
        if listed is not None:
            nodes[node] = listed
        elif code == REUSED_LETTER:
            nodes[node] = NodeStatus()
        else:
            nodes[node] = NodeStatus(phase=LETTER_PHASES.get(code, NodePhase.PENDING))
    return nodes


def _listed_nodes(
    nodes: Mapping[str, NodeStatus], order: Sequence[str]
) -> tuple[dict[str, NodeStatus], int]:
    position = {n: i for i, n in enumerate(order)}
    ranked = sorted(nodes, key=lambda n: (PRIORITY[nodes[n].phase], position.get(n, 0)))
    listed: dict[str, NodeStatus] = {}
    used = 0
    for name in ranked:
        entry = _short(nodes[name])
        cost = wire_size({name: entry.to_wire()})
        if used + cost > NODES_BUDGET:
            break
        listed[name] = entry
        used += cost
    # Spec order reads like the manifest; the ranking only chose who is shown.
    shown = {n: listed[n] for n in order if n in listed}
    return shown, len(nodes) - len(shown)


def _short(node: NodeStatus) -> NodeStatus:
    message = node.message
    if message is not None and len(message) > SHORT_MESSAGE:
        message = message[: SHORT_MESSAGE - 1] + "…"
    return node.model_copy(update={"message": message})


def _within(outputs: Mapping[str, str], budget: int) -> tuple[dict[str, str], int]:
    kept: dict[str, str] = {}
    used = 0
    for name, uri in outputs.items():
        cost = wire_size({name: uri})
        if used + cost > budget:
            break
        kept[name] = uri
        used += cost
    return kept, len(outputs) - len(kept)
