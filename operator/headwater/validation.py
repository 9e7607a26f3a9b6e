"""Every error in a Dataflow (and the Run that binds it), reported at once.

Each problem carries the field path, a CamelCase kind a program can match on, the
resource it belongs to and a sentence that names the things involved, so that the
operator can put them in a condition and the CLI can print them.
"""

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass
from enum import StrEnum

from headwater.api import DataflowNode, DataflowSpec, FunctionSpec, RunSpec
from headwater.codecheck import CodeCheck, find_code_issues
from headwater.graph import Graph, build_graph


class ProblemKind(StrEnum):
    CYCLE = "Cycle"
    DUPLICATE_NODE_NAME = "DuplicateNodeName"
    UNKNOWN_FUNCTION = "UnknownFunction"
    UNKNOWN_PARAMETER = "UnknownParameter"
    MISSING_PARAMETER = "MissingParameter"
    OUTPUT_COUNT_MISMATCH = "OutputCountMismatch"
    DUPLICATE_OUTPUT = "DuplicateOutput"
    DUPLICATE_PRODUCER = "DuplicateProducer"
    DUPLICATE_PARAMETER = "DuplicateParameter"
    UNBOUND_INPUT = "UnboundInput"
    UNKNOWN_BINDING = "UnknownBinding"
    UNKNOWN_DATASET = "UnknownDataset"
    INVALID_CODE = "InvalidCode"
    MISSING_HANDLER = "MissingHandler"
    SIGNATURE_MISMATCH = "SignatureMismatch"
    NOT_FOUND = "NotFound"
    """Something a resource refers to (a ConfigMap key, a file, a Dataflow) is missing."""


@dataclass(frozen=True)
class Problem:
    """One error, where it is and what to do about it."""

    path: str
    """The field path within the resource, e.g. `spec.nodes[2].inputs[1]`."""
    kind: ProblemKind
    """A CamelCase reason code."""
    resource: str
    """`Kind/name` of the resource at fault, e.g. `Function/load-cor`."""
    message: str
    """A sentence for people."""

    def __str__(self) -> str:
        return f"{self.resource} {self.path}: {self.message} ({self.kind})"


def validate(
    dataflow: DataflowSpec,
    functions: Mapping[str, FunctionSpec],
    run: RunSpec | None = None,
    datasets: Set[str] | None = None,
    *,
    dataflow_name: str | None = None,
    run_name: str | None = None,
    code_issues: CodeCheck = find_code_issues,
) -> list[Problem]:
    """Every problem of the dataflow, its functions' code, and the run's bindings.

    Without a run, free inputs are fine (a run binds them); with one, each must be bound
    or defaulted. `datasets` (the names that exist) enables the dataset check.
    """
    graph = build_graph(dataflow, functions)
    where = _resource("Dataflow", dataflow_name)
    problems = [
        *_duplicate_nodes(dataflow, where),
        *_node_wiring(dataflow, functions, where),
        *_duplicate_producers(dataflow, graph, where),
        *_cycles(dataflow, graph, where),
    ]
    used = dict.fromkeys(node.function for node in dataflow.nodes if node.function in functions)
    for name in used:
        problems += validate_function(functions[name], name, code_issues)
    if run is not None:
        problems += _bindings(graph, functions, run, datasets, _resource("Run", run_name))
    return problems


def validate_function(
    spec: FunctionSpec, name: str | None = None, code_issues: CodeCheck = find_code_issues
) -> list[Problem]:
    """Problems of one Function on its own: duplicate parameters, its inline code. The
    operator passes `code_issues` that parses in a separate process."""
    where = _resource("Function", name)
    problems = []
    seen: set[str] = set()
    for i, param in enumerate(spec.params):
        if param.name in seen:
            problems.append(
                Problem(
                    f"spec.params[{i}].name",
                    ProblemKind.DUPLICATE_PARAMETER,
                    where,
                    f"parameter {param.name!r} is declared twice",
                )
            )
        seen.add(param.name)
    for i, output in enumerate(spec.outputs):
        if output in spec.outputs[:i]:
            problems.append(
                Problem(
                    f"spec.outputs[{i}]",
                    ProblemKind.DUPLICATE_OUTPUT,
                    where,
                    f"output {output!r} is declared twice",
                )
            )
    if spec.code.inline is not None:
        for issue in code_issues(spec.code.inline, spec.handler, [p.name for p in spec.params]):
            problems.append(
                Problem("spec.code.inline", ProblemKind(issue.kind), where, issue.message)
            )
    return problems


def _resource(kind: str, name: str | None) -> str:
    return f"{kind}/{name}" if name else kind


def _node_path(index: int) -> str:
    return f"spec.nodes[{index}]"


def _duplicate_nodes(dataflow: DataflowSpec, where: str) -> list[Problem]:
    first_index: dict[str, int] = {}
    problems = []
    for i, node in enumerate(dataflow.nodes):
        if node.id in first_index:
            field = "name" if node.name else "function"
            problems.append(
                Problem(
                    f"{_node_path(i)}.{field}",
                    ProblemKind.DUPLICATE_NODE_NAME,
                    where,
                    f"node {node.id!r} is already spec.nodes[{first_index[node.id]}];"
                    " give each node a unique name",
                )
            )
        first_index.setdefault(node.id, i)
    return problems


def _node_wiring(
    dataflow: DataflowSpec, functions: Mapping[str, FunctionSpec], where: str
) -> list[Problem]:
    problems = []
    for i, node in enumerate(dataflow.nodes):
        function = functions.get(node.function)
        if function is None:
            problems.append(
                Problem(
                    f"{_node_path(i)}.function",
                    ProblemKind.UNKNOWN_FUNCTION,
                    where,
                    f"node {node.id!r} uses function {node.function!r}, which does not exist",
                )
            )
            continue
        problems += _node_inputs(i, node, function, where)
        problems += _node_outputs(i, node, function, where)
    return problems


def _node_inputs(
    index: int, node: DataflowNode, function: FunctionSpec, where: str
) -> list[Problem]:
    declared = {p.name for p in function.params}
    if isinstance(node.inputs, dict):
        fields = [(f"inputs.{param}", param) for param in node.inputs]
    else:
        fields = [(f"inputs[{j}]", param) for j, param in enumerate(node.inputs)]
    problems = [
        Problem(
            f"{_node_path(index)}.{field}",
            ProblemKind.UNKNOWN_PARAMETER,
            where,
            f"node {node.id!r}: function {node.function!r} has no parameter {param!r}"
            f" (it has {_names(declared)})",
        )
        for field, param in fields
        if param not in declared
    ]
    wired = node.input_map()
    for param in function.params:
        if param.name not in wired and param.default is None:
            problems.append(
                Problem(
                    f"{_node_path(index)}.inputs",
                    ProblemKind.MISSING_PARAMETER,
                    where,
                    f"node {node.id!r} does not wire parameter {param.name!r} of function"
                    f" {node.function!r}, which has no default",
                )
            )
    return problems


def _node_outputs(
    index: int, node: DataflowNode, function: FunctionSpec, where: str
) -> list[Problem]:
    if node.outputs is None:
        return []
    problems = []
    if len(node.outputs) != len(function.outputs):
        problems.append(
            Problem(
                f"{_node_path(index)}.outputs",
                ProblemKind.OUTPUT_COUNT_MISMATCH,
                where,
                f"node {node.id!r} names {len(node.outputs)} outputs but function"
                f" {node.function!r} returns {len(function.outputs)}"
                f" ({_names(function.outputs)})",
            )
        )
    for j, name in enumerate(node.outputs):
        if name in node.outputs[:j]:
            problems.append(
                Problem(
                    f"{_node_path(index)}.outputs[{j}]",
                    ProblemKind.DUPLICATE_OUTPUT,
                    where,
                    f"node {node.id!r} names output {name!r} twice",
                )
            )
    return problems


def _duplicate_producers(dataflow: DataflowSpec, graph: Graph, where: str) -> list[Problem]:
    index = _first_index(dataflow)
    problems = []
    for name, producers in graph.producers.items():
        for later in producers[1:]:
            node = graph.nodes[later]
            field = (
                f"outputs[{node.outputs.index(name)}]" if node.outputs is not None else "function"
            )
            problems.append(
                Problem(
                    f"{_node_path(index[later])}.{field}",
                    ProblemKind.DUPLICATE_PRODUCER,
                    where,
                    f"{name!r} is produced by nodes {_names(producers)}; rename all but one",
                )
            )
    return problems


def _cycles(dataflow: DataflowSpec, graph: Graph, where: str) -> list[Problem]:
    index = _first_index(dataflow)
    return [
        Problem(
            _node_path(index[cycle[0]]),
            ProblemKind.CYCLE,
            where,
            f"the nodes form a cycle: {_cycle_text(cycle)}",
        )
        for cycle in graph.cycles
    ]


def _cycle_text(cycle: tuple[str, ...]) -> str:
    """`a -> b -> a`; a cycle through thousands of nodes names its first ones."""
    if len(cycle) <= MENTIONED + 1:
        return " -> ".join(cycle)
    hidden = len(cycle) - MENTIONED - 1
    return f"{' -> '.join(cycle[:MENTIONED])} -> … {hidden} more … -> {cycle[-1]}"


def _bindings(
    graph: Graph,
    functions: Mapping[str, FunctionSpec],
    run: RunSpec,
    datasets: Set[str] | None,
    where: str,
) -> list[Problem]:
    problems = []
    free_inputs = _names(graph.free_inputs)  # once: it may name thousands
    for name, binding in run.parameters.items():
        path = f"spec.parameters.{name}"
        if name not in graph.free_inputs:
            if name in graph.producers:
                reason = f"it is produced by node {_names(graph.producers[name])}"
            else:
                reason = "no node reads it"
            problems.append(
                Problem(
                    path,
                    ProblemKind.UNKNOWN_BINDING,
                    where,
                    f"{name!r} is not a free input of the dataflow: {reason}"
                    f" (free inputs: {free_inputs})",
                )
            )
        if binding.dataset is not None and datasets is not None and binding.dataset not in datasets:
            problems.append(
                Problem(
                    f"{path}.dataset",
                    ProblemKind.UNKNOWN_DATASET,
                    where,
                    f"{name!r} is bound to dataset {binding.dataset!r}, which does not exist",
                )
            )

    readers = _readers_without_default(graph, functions)
    for name in sorted(graph.free_inputs - run.parameters.keys()):
        if name in readers:
            problems.append(
                Problem(
                    f"spec.parameters.{name}",
                    ProblemKind.UNBOUND_INPUT,
                    where,
                    f"free input {name!r} is read by {_some(readers[name])} without a default;"
                    " bind it to a dataset or a value",
                )
            )
    return problems


def _readers_without_default(
    graph: Graph, functions: Mapping[str, FunctionSpec]
) -> dict[str, list[str]]:
    """Wired name → the nodes that read it without a default, in one pass over the inputs
    (once per free input was quadratic: minutes for 10,000 of them)."""
    readers: dict[str, list[str]] = {}
    for node_id in graph.node_ids:
        function = functions.get(graph.nodes[node_id].function)
        for param_name, wired in graph.inputs[node_id].items():
            param = function.param(param_name) if function is not None else None
            # An unknown function or parameter is reported on the dataflow already.
            if param is not None and param.default is None:
                readers.setdefault(wired, []).append(f"node {node_id!r} (parameter {param_name!r})")
    return readers


def _first_index(dataflow: DataflowSpec) -> dict[str, int]:
    index: dict[str, int] = {}
    for i, node in enumerate(dataflow.nodes):
        index.setdefault(node.id, i)
    return index


def _names(names: Iterable[str]) -> str:
    # Sets are sorted so that messages are stable; sequences keep their order.
    listed = sorted(names) if isinstance(names, Set) else list(names)
    return _some([repr(n) for n in listed[:MENTIONED]], len(listed)) if listed else "none"


MENTIONED = 10
"""Items a message lists: a problem repeated for each of thousands of names must not
list all of them each time (1,024 bindings × 10,000 free inputs was 100 MB of text)."""


def _some(items: list[str], total: int | None = None) -> str:
    """The first MENTIONED of `total` items (all of `items` when not given)."""
    total = len(items) if total is None else total
    shown = ", ".join(items[:MENTIONED])
    return shown if total <= MENTIONED else f"{shown} and {total - MENTIONED} more"
