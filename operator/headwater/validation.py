"""Every error in a Dataflow (and the Run that binds it), reported at once.

Each problem carries the field path, a CamelCase kind a program can match on, the
resource it belongs to and a sentence that names the things involved — with the name
probably meant when a name is unknown — so that the operator can put them in a
condition and the CLI can print them, in the same words.

`validate` returns errors: what makes a Dataflow or Run unusable. `warnings` returns
what is legal but probably a mistake (a free input spelt like a produced name), which
neither blocks a Dataflow nor a Run.
"""

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass
from enum import StrEnum

from headwater.api import DataflowNode, DataflowSpec, FunctionSpec, ParamType, RunSpec
from headwater.api.base import JsonValue
from headwater.codecheck import CodeCheck, find_code_issues
from headwater.graph import Graph, build_graph
from headwater.schemas import mismatch, schema_problem
from headwater.suggest import Names


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
    INVALID_SCHEMA = "InvalidSchema"
    INVALID_DEFAULT = "InvalidDefault"
    INVALID_PARAMETER = "InvalidParameter"
    """A Run's value (or inline dataset) does not match the parameter's schema."""
    POSSIBLE_TYPO = "PossibleTypo"
    """A warning: a free input spelt almost like a name a node produces."""
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


def describe(problems: Iterable[Problem]) -> str:
    """Problems as one line for a condition's message: `Run/r spec.parameters.x: …; …`."""
    return "; ".join(f"{p.resource} {p.path}: {p.message}" for p in problems)


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
        run_where = _resource("Run", run_name)
        problems += _bindings(dataflow, graph, functions, run, datasets, run_where, where)
    return problems


def warnings(
    dataflow: DataflowSpec,
    functions: Mapping[str, FunctionSpec],
    *,
    dataflow_name: str | None = None,
) -> list[Problem]:
    """What is legal but probably a typo: a node reading a name no node produces while
    a node produces one a slip away. A free input is legitimate (a Run binds it), so
    this is a warning on the Dataflow, and an error only when a Run leaves it unbound.

    An output nothing reads is a final output of the dataflow, so it is not a warning
    on its own; the one worth a word is the output a mistyped input missed, which this
    names in the same sentence."""
    graph = build_graph(dataflow, functions)
    return [
        Problem(path, ProblemKind.POSSIBLE_TYPO, _resource("Dataflow", dataflow_name), message)
        for _, path, message in _likely_typos(dataflow, graph)
    ]


def validate_function(
    spec: FunctionSpec, name: str | None = None, code_issues: CodeCheck = find_code_issues
) -> list[Problem]:
    """Problems of one Function on its own: duplicate parameters, its parameters'
    schemas and defaults, its inline (or ConfigMap) code. The operator passes
    `code_issues` that parses in a separate process."""
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
    problems += _param_schemas(spec, where)
    if spec.code.inline is not None:
        ref = spec.code.config_map_key_ref
        # ConfigMap code is checked as read; the user wrote the reference, not the text.
        field, source = (
            ("spec.code.configMapKeyRef", f"ConfigMap {ref.name} key {ref.key}: ")
            if ref is not None
            else ("spec.code.inline", "")
        )
        for issue in code_issues(spec.code.inline, spec.handler, [p.name for p in spec.params]):
            problems.append(Problem(field, ProblemKind(issue.kind), where, source + issue.message))
    return problems


def _param_schemas(spec: FunctionSpec, where: str) -> list[Problem]:
    problems = []
    for i, param in enumerate(spec.params):
        if param.schema_ is None:
            continue
        broken = schema_problem(param.schema_)
        if broken is not None:
            problems.append(
                Problem(
                    f"spec.params[{i}].schema",
                    ProblemKind.INVALID_SCHEMA,
                    where,
                    f"parameter {param.name!r}: not a JSON Schema: {broken}",
                )
            )
        elif param.default is not None:
            wrong = mismatch(param.schema_, param.default)
            if wrong is not None:
                problems.append(
                    Problem(
                        f"spec.params[{i}].default",
                        ProblemKind.INVALID_DEFAULT,
                        where,
                        f"parameter {param.name!r}: the default {_shown(param.default)}"
                        f" does not match its schema: {wrong}",
                    )
                )
    return problems


def check_parameters(
    dataflow: DataflowSpec,
    functions: Mapping[str, FunctionSpec],
    run: RunSpec,
    inline_datasets: Mapping[str, JsonValue],
    *,
    run_name: str | None = None,
) -> list[Problem]:
    """Each bound value, or inline dataset, against the schema of every value
    parameter that reads it. `inline_datasets`: dataset name → its inline values (a
    dataset bound but not listed is data in a file, read only when a node runs)."""
    graph = build_graph(dataflow, functions)
    readers = _readers(graph)
    where = _resource("Run", run_name)
    problems = []
    for name, binding in run.parameters.items():
        if binding.dataset is None:
            value, path, what = binding.value, f"spec.parameters.{name}.value", "value"
        elif binding.dataset in inline_datasets:
            value, path = inline_datasets[binding.dataset], f"spec.parameters.{name}.dataset"
            what = f"inline dataset {binding.dataset!r}"
        else:
            continue
        for node_id, param_name in readers.get(name, ()):
            function = functions.get(graph.nodes[node_id].function)
            param = function.param(param_name) if function is not None else None
            if param is None or param.type != ParamType.VALUE or param.schema_ is None:
                continue
            if schema_problem(param.schema_) is not None:
                continue  # reported on the Function
            wrong = mismatch(param.schema_, value)
            if wrong is not None:
                problems.append(
                    Problem(
                        path,
                        ProblemKind.INVALID_PARAMETER,
                        where,
                        f"{name!r}: the {what} {_shown(value)} does not match the schema of"
                        f" parameter {param_name!r} of node {node_id!r}: {wrong}",
                    )
                )
    return problems


def _readers(graph: Graph) -> dict[str, list[tuple[str, str]]]:
    """Wired name → (node id, parameter) of every node input that reads it."""
    readers: dict[str, list[tuple[str, str]]] = {}
    for node_id in graph.node_ids:
        for param, wired in graph.inputs[node_id].items():
            readers.setdefault(wired, []).append((node_id, param))
    return readers


def _shown(value: JsonValue) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _resource(kind: str, name: str | None) -> str:
    return f"{kind}/{name}" if name else kind


def _node_path(index: int) -> str:
    return f"spec.nodes[{index}]"


def _input_field(node: DataflowNode, param: str) -> str:
    """Where a node wires `param`: `inputs.df` in the map form, `inputs[1]` in the list."""
    if isinstance(node.inputs, dict):
        return f"inputs.{param}"
    return f"inputs[{node.inputs.index(param)}]"


def _likely_typos(dataflow: DataflowSpec, graph: Graph) -> list[tuple[str, str, str]]:
    """(free input, field path, sentence) for each node input that reads a name no node
    produces, one slip away from a name another node does produce."""
    produced = Names(graph.producers)
    index = _first_index(dataflow)
    readers = _readers(graph)
    final = set(graph.final_outputs)
    found = []
    for name in sorted(graph.free_inputs):
        meant = produced.slip(name)
        if meant is None:
            continue
        for node_id, param in readers[name]:
            producers = [p for p in graph.producers[meant] if p != node_id]
            if not producers:
                continue  # the node's own output: reading it would be a cycle
            node = graph.nodes[node_id]
            unread = " and nothing reads" if meant in final else ""
            found.append(
                (
                    name,
                    f"{_node_path(index[node_id])}.{_input_field(node, param)}",
                    f"node {node_id!r} reads {name!r}, which no node produces, so a Run must"
                    f" bind it; did you mean {meant!r}, which node {producers[0]!r}"
                    f" produces{unread}?",
                )
            )
    return found


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
    known = Names(functions)
    for i, node in enumerate(dataflow.nodes):
        function = functions.get(node.function)
        if function is None:
            problems.append(
                Problem(
                    f"{_node_path(i)}.function",
                    ProblemKind.UNKNOWN_FUNCTION,
                    where,
                    f"node {node.id!r} uses function {node.function!r}, which does not exist"
                    + known.did_you_mean(node.function),
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
    wired = node.input_map()
    # A parameter left unwired is what a misspelt one most likely meant.
    unwired = Names(declared - wired.keys())
    problems = [
        Problem(
            f"{_node_path(index)}.{_input_field(node, param)}",
            ProblemKind.UNKNOWN_PARAMETER,
            where,
            f"node {node.id!r}: function {node.function!r} has no parameter {param!r}"
            f" (it has {_names(declared)}){unwired.did_you_mean(param)}",
        )
        for param in wired
        if param not in declared
    ]
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
    dataflow: DataflowSpec,
    graph: Graph,
    functions: Mapping[str, FunctionSpec],
    run: RunSpec,
    datasets: Set[str] | None,
    where: str,
    dataflow_where: str,
) -> list[Problem]:
    problems = []
    free = Names(graph.free_inputs - run.parameters.keys())
    known_datasets = Names(datasets or ())
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
                    f" (free inputs: {free_inputs}){free.did_you_mean(name)}",
                )
            )
        if binding.dataset is not None and datasets is not None and binding.dataset not in datasets:
            problems.append(
                Problem(
                    f"{path}.dataset",
                    ProblemKind.UNKNOWN_DATASET,
                    where,
                    f"{name!r} is bound to dataset {binding.dataset!r}, which does not exist"
                    + known_datasets.did_you_mean(binding.dataset),
                )
            )

    typos = {name: (path, message) for name, path, message in _likely_typos(dataflow, graph)}
    readers_of = _readers(graph)
    for name in sorted(graph.free_inputs - run.parameters.keys()):
        readers = _readers_without_default(functions, graph, readers_of[name])
        if readers:
            fix = "bind it to a dataset or a value"
            if name in typos:
                # Most likely the Dataflow is wrong, not the Run: say so first.
                field, sentence = typos[name]
                fix = f"{dataflow_where} {field}: {sentence} Otherwise {fix}"
            problems.append(
                Problem(
                    f"spec.parameters.{name}",
                    ProblemKind.UNBOUND_INPUT,
                    where,
                    f"free input {name!r} is read by {_some(readers)} without a default; {fix}",
                )
            )
    return problems


def _readers_without_default(
    functions: Mapping[str, FunctionSpec], graph: Graph, readers: list[tuple[str, str]]
) -> list[str]:
    found = []
    for node_id, param_name in readers:
        function = functions.get(graph.nodes[node_id].function)
        param = function.param(param_name) if function is not None else None
        # An unknown function or parameter is reported on the dataflow already.
        if param is not None and param.default is None:
            found.append(f"node {node_id!r} (parameter {param_name!r})")
    return found


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
