"""Status of the catalog kinds (Dataset, Function, Dataflow): what the operator checks
before any Run uses them. The checks are the core's; this module gathers their inputs
from the namespace and says the result as a Ready condition."""

import concurrent.futures
import hashlib
import json
from typing import Any

from pydantic import BaseModel, ValidationError

from headwater.api import (
    Condition,
    Dataflow,
    DataflowStatus,
    Dataset,
    DatasetStatus,
    Function,
    FunctionSpec,
    FunctionStatus,
    now,
    set_condition,
)
from headwater.artifacts import fingerprint, infer_format
from headwater.controller.kube import Kube, Manifest
from headwater.controller.settings import STORE_MOUNT_PATH, OperatorSettings
from headwater.controller.snapshots import absolute_uri
from headwater.graph import build_graph
from headwater.references import MissingKey, with_inline_code
from headwater.validation import Problem, validate, validate_function, warnings

READY = "Ready"
PROBE_SECONDS = 10.0
MAX_MESSAGE = 8000


def _ready(
    conditions: list[Condition], ok: bool, reason: str, message: str, generation: int | None
) -> list[Condition]:
    return set_condition(conditions, READY, ok, reason, message[:MAX_MESSAGE], generation)


def _problems_message(problems: list[Problem]) -> str:
    return "; ".join(f"{p.path}: {p.message}" if p.path else p.message for p in problems)


def _earlier(status_type: type[BaseModel], body: Manifest) -> Any:
    try:
        return status_type.model_validate(body.get("status") or {})
    except ValidationError:
        return status_type()


def _unreadable(status_type: type[BaseModel], body: Manifest, error: ValidationError) -> Any:
    """A body the models cannot read: Ready=False, reason InvalidSpec, never a crash."""
    generation = body["metadata"].get("generation")
    earlier = _earlier(status_type, body)
    conditions = _ready(earlier.conditions, False, "InvalidSpec", str(error), generation)
    return status_type(conditions=conditions, observed_generation=generation)


def dataset_status(body: Manifest, kube: Kube, settings: OperatorSettings) -> DatasetStatus:
    try:
        dataset = Dataset.model_validate(body)
    except ValidationError as error:
        return _unreadable(DatasetStatus, body, error)
    earlier: DatasetStatus = _earlier(DatasetStatus, body)
    generation = dataset.metadata.generation
    namespace = dataset.metadata.namespace or "default"
    source = dataset.spec.source
    declared = dataset.spec.format
    found: dict[str, Any] = {}
    if source.inline is not None:
        content = json.dumps(source.inline, sort_keys=True).encode()
        found = {"uri": "inline", "format": declared or "json", **_digest(content)}
        ok, reason, message = True, "Inline", "inline values"
    elif source.uri is not None:
        uri = absolute_uri(source.uri, settings.store.root(namespace))
        found = {"uri": uri, "format": declared or infer_format(uri)}
        if settings.store.url is None and uri.startswith(STORE_MOUNT_PATH):
            # Inside a namespace's PVC, which only Jobs mount; read when a node reads it.
            ok, reason = True, "InArtifactStore"
            message = (
                f"{uri} is in the artifact store PVC {settings.store.pvc_name},"
                " which only Jobs mount; a node reading it will tell"
            )
        else:
            ok, reason, message, sizes = _probe(uri)
            found.update(sizes)
    else:
        ref = source.config_map_key_ref or source.secret_key_ref
        assert ref is not None
        kind = "ConfigMap" if source.config_map_key_ref else "Secret"
        values = kube.key_values(kind, namespace, ref.name)
        found = {
            "uri": f"{kind.lower()}:{ref.name}/{ref.key}",
            "format": declared or infer_format(ref.key),
        }
        if values is None:
            ok, reason, message = False, f"{kind}NotFound", f"{kind} {ref.name} not found"
        elif ref.key not in values:
            ok, reason, message = False, "KeyNotFound", f"{kind} {ref.name} has no key {ref.key}"
        else:
            found.update(_digest(values[ref.key]))
            ok, reason, message = True, "Found", f"key {ref.key} of {kind} {ref.name}"
    conditions = _ready(earlier.conditions, ok, reason, message, generation)
    return DatasetStatus(
        conditions=conditions,
        observed_generation=generation,
        last_checked=earlier.last_checked
        if ok and earlier.sha256 == found.get("sha256") and earlier.last_checked
        else now(),
        **found,
    )


def _digest(content: bytes) -> dict[str, Any]:
    return {"size": len(content), "sha256": hashlib.sha256(content).hexdigest()}


def _probe(uri: str) -> tuple[bool, str, str, dict[str, Any]]:
    """Size and sha256 of the data behind a URI, within a deadline."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        size, sha256 = pool.submit(fingerprint, uri).result(timeout=PROBE_SECONDS)
    except concurrent.futures.TimeoutError:
        return False, "Unreachable", f"{uri}: no answer within {PROBE_SECONDS:.0f}s", {}
    except Exception as error:
        return False, "Unreachable", f"{uri}: {error}", {}
    finally:
        pool.shutdown(wait=False)
    return True, "Reachable", uri, {"size": size, "sha256": sha256}


def function_status(body: Manifest, kube: Kube) -> FunctionStatus:
    try:
        function = Function.model_validate(body)
    except ValidationError as error:
        return _unreadable(FunctionStatus, body, error)
    earlier: FunctionStatus = _earlier(FunctionStatus, body)
    generation = function.metadata.generation
    spec, missing = with_code(function.spec, kube, function.metadata.namespace or "default")
    if missing:
        conditions = _ready(earlier.conditions, False, "CodeNotFound", missing, generation)
    else:
        problems = validate_function(spec)
        if problems:
            message = _problems_message(problems)
            conditions = _ready(earlier.conditions, False, "InvalidCode", message, generation)
        else:
            message = f"handler {spec.handler} takes the declared parameters"
            conditions = _ready(earlier.conditions, True, "Checked", message, generation)
    return FunctionStatus(conditions=conditions, observed_generation=generation)


def with_code(spec: FunctionSpec, kube: Kube, namespace: str) -> tuple[FunctionSpec, str]:
    """The spec with ConfigMap code read inline, or what is missing."""
    try:
        return with_inline_code(spec, kube.config_maps_of(namespace)), ""
    except MissingKey as missing:
        return spec, str(missing)


def dataflow_status(body: Manifest, kube: Kube) -> DataflowStatus:
    try:
        dataflow = Dataflow.model_validate(body)
    except ValidationError as error:
        return _unreadable(DataflowStatus, body, error)
    earlier: DataflowStatus = _earlier(DataflowStatus, body)
    namespace = dataflow.metadata.namespace or "default"
    generation = dataflow.metadata.generation
    functions: dict[str, FunctionSpec] = {}
    for item in kube.list_objects("functions", namespace):
        try:
            function = Function.model_validate(item)
        except ValidationError:
            continue  # its own status says why; here it counts as unknown
        functions[function.metadata.name], _ = with_code(function.spec, kube, namespace)
    problems = validate(dataflow.spec, functions, dataflow_name=dataflow.metadata.name)
    graph = build_graph(dataflow.spec, functions)
    # Legal but probably mistyped: said in the message, never a reason to be not Ready.
    doubts = warnings(dataflow.spec, functions, dataflow_name=dataflow.metadata.name)
    also = f"; warning: {_problems_message(doubts)}" if doubts else ""
    if problems:
        message = _problems_message(problems) + also
        conditions = _ready(earlier.conditions, False, "InvalidDataflow", message, generation)
    else:
        message = f"{len(graph.node_ids)} nodes in {len(graph.levels)} levels{also}"
        conditions = _ready(earlier.conditions, True, "Valid", message, generation)
    return DataflowStatus(
        conditions=conditions,
        node_count=len(dataflow.spec.nodes),
        depth=len(graph.levels) or None,
        levels=[list(level) for level in graph.levels] or None,
        observed_generation=generation,
    )
