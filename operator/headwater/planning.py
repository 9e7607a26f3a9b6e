"""Turn one node of a Run into the Task the runner executes, and say where outputs go.

Pure: both executors call it with the Run's snapshot and current status, and the
result travels to the runner as data.
"""

from collections.abc import Mapping
from typing import Any

from headwater.api import Binding, FunctionSpec, Param, RunStatus
from headwater.artifacts import layout
from headwater.graph import Graph, build_graph
from headwater.snapshot import Snapshot
from headwater.task import Task, TaskInput


class PlanningError(ValueError):
    """The node cannot be planned: a parameter has no source. Validation reports these
    before a run starts, so meeting one here means the run was not validated."""


def output_uris(store_root: str, run_name: str, node_id: str, graph: Graph) -> dict[str, str]:
    """Wired output name → the URI where the node writes it."""
    return {
        name: layout.output_dir(store_root, run_name, node_id, name)
        for name in graph.outputs.get(node_id, ())
    }


def build_task(
    run_name: str,
    snapshot: Snapshot,
    node_id: str,
    status: RunStatus,
    bindings: Mapping[str, Binding],
    store_root: str,
    result_path: str | None = None,
    storage_options: dict[str, Any] | None = None,
    graph: Graph | None = None,
    fingerprint: str | None = None,
    attempt_logs: bool = True,
) -> Task:
    """The Task for `node_id`: its function's parameters in order, each with its source
    (an upstream artifact, a bound dataset or value, or the default), where to write
    each declared output and, with `attempt_logs`, each attempt's log and record. Pass
    the snapshot's `graph` when planning many nodes."""
    graph = graph or build_graph(snapshot.dataflow, snapshot.functions)
    node = graph.nodes[node_id]
    function = snapshot.functions[node.function]
    inputs = []
    for param in function.params:
        name = graph.inputs[node_id].get(param.name)
        if name is not None and name in graph.producers:
            producer = graph.producers[name][0]
            uri = _artifact_uri(name, producer, graph, status, run_name, store_root)
            inputs.append(TaskInput(param=param.name, type=param.type, artifact_uri=uri))
        else:
            inputs.append(_given_input(param, name, snapshot, bindings))
    return Task(
        run=run_name,
        node=node_id,
        handler=function.handler,
        code=function.code.inline,
        filename=code_filename(node.function, function),
        module=function.code.module,
        inputs=inputs,
        output_names=list(function.outputs),
        outputs=_declared_outputs(function, graph.outputs[node_id], store_root, run_name, node_id),
        storage_options=dict(storage_options or {}),
        result_path=result_path,
        fingerprint=fingerprint,
        bookkeeping=layout.bookkeeping_dir(store_root, run_name, node_id) if attempt_logs else None,
    )


def code_filename(name: str, function: FunctionSpec) -> str | None:
    """What tracebacks call the function's source: the ConfigMap key the user wrote it
    in, or a pseudo-name that says which Function it is."""
    if function.code.inline is None:
        return None
    ref = function.code.config_map_key_ref
    return ref.key if ref is not None else f"<Function {name}>"


def _given_input(
    param: Param, name: str | None, snapshot: Snapshot, bindings: Mapping[str, Binding]
) -> TaskInput:
    """A parameter no node feeds: bound by the run, else its default."""
    if name is not None and name in bindings:
        return _bound_input(param, name, bindings[name], snapshot)
    if param.default is not None:
        return TaskInput(param=param.name, type=param.type, value=param.default, has_value=True)
    source = f"free input {name!r} is unbound" if name is not None else "the node does not wire it"
    raise PlanningError(f"parameter {param.name!r} has no value: {source}")


def _artifact_uri(
    name: str, producer: str, graph: Graph, status: RunStatus, run_name: str, store_root: str
) -> str:
    # The status says where the producer wrote it; the conventional location (under the
    # run it was reused from, if any) is the fallback when the status does not list it.
    recorded = status.nodes.get(producer)
    if recorded is not None and recorded.outputs and name in recorded.outputs:
        return recorded.outputs[name]
    owner = recorded.reused_from if recorded is not None and recorded.reused_from else run_name
    return output_uris(store_root, owner, producer, graph)[name]


def _bound_input(param: Param, name: str, binding: Binding, snapshot: Snapshot) -> TaskInput:
    if binding.dataset is None:
        return TaskInput(param=param.name, type=param.type, value=binding.value, has_value=True)
    dataset = snapshot.datasets.get(binding.dataset)
    if dataset is None:
        raise PlanningError(
            f"free input {name!r} is bound to dataset {binding.dataset!r},"
            " which the run's snapshot does not hold"
        )
    if dataset.is_inline:
        return TaskInput(
            param=param.name,
            type=param.type,
            format=dataset.format,
            value=dataset.inline,
            has_value=True,
        )
    return TaskInput(
        param=param.name, type=param.type, dataset_uri=dataset.uri, format=dataset.format
    )


def _declared_outputs(
    function: FunctionSpec,
    wired: tuple[str, ...],
    store_root: str,
    run_name: str,
    node_id: str,
) -> dict[str, str]:
    # Outputs are renamed positionally: the artifact is stored under the wired name,
    # which is what downstream nodes look for, while the runner knows the declared one.
    return {
        declared: layout.output_dir(store_root, run_name, node_id, name)
        for declared, name in zip(function.outputs, wired, strict=False)
    }
