"""Pure DAG logic over a Dataflow: wiring, edges, topological order, readiness.

Nodes are wired by name: an output name of one node among another node's inputs is an
edge. `build_graph` never raises on a broken dataflow (unknown function, cycle, two
producers of one name); it builds what it can and `headwater.validation` reports the
rest, so the validator and the engine share one reading of the spec.
"""

from collections import deque
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass
from graphlib import TopologicalSorter

from headwater.api import DataflowNode, DataflowSpec, FunctionSpec


@dataclass(frozen=True)
class Graph:
    """A dataflow's nodes and how they are wired, by node id (`DataflowNode.id`)."""

    node_ids: tuple[str, ...]
    """Every node id once, in spec order (a duplicated id keeps its first node)."""
    nodes: Mapping[str, DataflowNode]
    """Node id → its spec."""
    inputs: Mapping[str, Mapping[str, str]]
    """Node id → parameter → the wired name it reads."""
    outputs: Mapping[str, tuple[str, ...]]
    """Node id → the wired names it produces (node.outputs, else the function's)."""
    producers: Mapping[str, tuple[str, ...]]
    """Wired name → ids of the nodes producing it (more than one is an error)."""
    deps: Mapping[str, frozenset[str]]
    """Node id → ids of its upstream nodes."""
    dependents: Mapping[str, frozenset[str]]
    """Node id → ids of its downstream nodes."""
    free_inputs: frozenset[str]
    """Names read by some node that no node produces: bound by a Run or a default."""
    final_outputs: tuple[str, ...]
    """Names produced that no node reads: the dataflow's results, in spec order."""
    order: tuple[str, ...]
    """Node ids in topological order; empty when the graph has a cycle."""
    levels: tuple[tuple[str, ...], ...]
    """Node ids by level: each depends only on earlier levels; empty with a cycle."""
    cycles: tuple[tuple[str, ...], ...]
    """One cycle per strongly connected component, in data-flow direction, closed
    (`("a", "b", "a")` means b reads a's output and a reads b's)."""

    @property
    def acyclic(self) -> bool:
        return not self.cycles

    def ready(self, todo: Iterable[str], done: Set[str]) -> set[str]:
        """The nodes of `todo` whose upstream nodes are all in `done`."""
        return {n for n in todo if self.deps[n] <= done}

    def descendants(self, node_id: str) -> set[str]:
        """Every node downstream of `node_id`, transitively, not itself (unless cyclic)."""
        return _reachable(node_id, self.dependents)

    def ancestors(self, node_id: str) -> set[str]:
        """Every node upstream of `node_id`, transitively."""
        return _reachable(node_id, self.deps)


def build_graph(dataflow: DataflowSpec, functions: Mapping[str, FunctionSpec]) -> Graph:
    """Wire the dataflow's nodes; tolerant of every error the validator reports."""
    nodes: dict[str, DataflowNode] = {}
    for node in dataflow.nodes:
        nodes.setdefault(node.id, node)
    node_ids = tuple(nodes)

    inputs = {n: node.input_map() for n, node in nodes.items()}
    outputs = {n: wired_outputs(node, functions.get(node.function)) for n, node in nodes.items()}

    producers: dict[str, list[str]] = {}
    for n in node_ids:
        for name in dict.fromkeys(outputs[n]):
            producers.setdefault(name, []).append(n)

    deps = {
        n: frozenset(p for name in inputs[n].values() for p in producers.get(name, ()))
        for n in node_ids
    }
    dependents: dict[str, set[str]] = {n: set() for n in node_ids}
    for n in node_ids:
        for upstream in deps[n]:
            dependents[upstream].add(n)

    read = {name for n in node_ids for name in inputs[n].values()}
    free_inputs = frozenset(read - producers.keys())
    final_outputs = tuple(name for name in producers if name not in read)

    cycles = _cycles(node_ids, deps)
    levels = () if cycles else _levels(node_ids, deps)
    return Graph(
        node_ids=node_ids,
        nodes=nodes,
        inputs=inputs,
        outputs=outputs,
        producers={name: tuple(ids) for name, ids in producers.items()},
        deps=deps,
        dependents={n: frozenset(d) for n, d in dependents.items()},
        free_inputs=free_inputs,
        final_outputs=final_outputs,
        order=tuple(n for level in levels for n in level),
        levels=levels,
        cycles=cycles,
    )


def wired_outputs(node: DataflowNode, function: FunctionSpec | None) -> tuple[str, ...]:
    """The names a node produces: its own renaming, else its function's output names."""
    if node.outputs is not None:
        return tuple(node.outputs)
    return tuple(function.outputs) if function is not None else ()


def _levels(
    node_ids: tuple[str, ...], deps: Mapping[str, frozenset[str]]
) -> tuple[tuple[str, ...], ...]:
    # Within a level, keep spec order so that levels read like the manifest.
    position = {n: i for i, n in enumerate(node_ids)}
    sorter = TopologicalSorter({n: deps[n] for n in node_ids})
    sorter.prepare()
    levels = []
    while sorter.is_active():
        level = tuple(sorted(sorter.get_ready(), key=position.__getitem__))
        sorter.done(*level)
        levels.append(level)
    return tuple(levels)


def _reachable(start: str, edges: Mapping[str, Iterable[str]]) -> set[str]:
    seen: set[str] = set()
    queue = deque(edges.get(start, ()))
    while queue:
        n = queue.popleft()
        if n not in seen:
            seen.add(n)
            queue.extend(edges[n])
    return seen


def _cycles(
    node_ids: tuple[str, ...], deps: Mapping[str, frozenset[str]]
) -> tuple[tuple[str, ...], ...]:
    """One closed cycle per strongly connected component that has one.

    graphlib reports only the first cycle it meets; the validator wants them all.
    """
    position = {n: i for i, n in enumerate(node_ids)}
    cycles = []
    for component in _strong_components(node_ids, deps):
        start = min(component, key=position.__getitem__)
        if len(component) == 1 and start not in deps[start]:
            continue
        cycles.append(_cycle_through(start, component, deps, position))
    return tuple(sorted(cycles, key=lambda cycle: position[cycle[0]]))


def _cycle_through(
    start: str,
    component: set[str],
    deps: Mapping[str, frozenset[str]],
    position: Mapping[str, int],
) -> tuple[str, ...]:
    # Breadth-first over upstream edges inside the component finds the shortest way
    # back to `start`; reading the path forwards gives the data-flow direction.
    towards_start: dict[str, str] = {}
    queue = deque([start])
    while queue:
        n = queue.popleft()
        for upstream in sorted(deps[n] & component, key=position.__getitem__):
            if upstream == start:
                path = [start, n]
                while path[-1] != start:
                    path.append(towards_start[path[-1]])
                return tuple(path)
            if upstream not in towards_start:
                towards_start[upstream] = n
                queue.append(upstream)
    raise AssertionError(f"{start} is in a strong component without a cycle")


def _strong_components(
    node_ids: tuple[str, ...], deps: Mapping[str, frozenset[str]]
) -> list[set[str]]:
    """Tarjan's algorithm, iterative so that long chains do not hit the recursion limit."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    for root in node_ids:
        if root in index:
            continue
        work = [(root, iter(sorted(deps[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            n, upstream = work[-1]
            advanced = False
            for u in upstream:
                if u not in index:
                    index[u] = low[u] = len(index)
                    stack.append(u)
                    on_stack.add(u)
                    work.append((u, iter(sorted(deps[u]))))
                    advanced = True
                    break
                if u in on_stack:
                    low[n] = min(low[n], index[u])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[n])
            if low[n] == index[n]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == n:
                        break
                components.append(component)
    return components
