"""Ready conditions of Datasets, Functions and Dataflows: what the operator checks
before any Run uses them. The checks are the core's; this module gathers their inputs
from the cache and says the result as a Ready condition.

Costs are bounded: a Function's code is checked when its spec changes (and again every
`catalog_recheck_seconds`, since a ConfigMap holding its code may change), a Dataflow
reads Functions from the cache, and a Dataset is probed in the background (see
`probe`), never by a reconcile thread waiting on the network.
"""

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from headwater.api import (
    Condition,
    ConditionStatus,
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
from headwater.artifacts import infer_format
from headwater.artifacts.published import PUSHED_SHA256, PUSHED_SIZE
from headwater.codeworker import check_code_isolated
from headwater.controller.cache import ObjectCache
from headwater.controller.kube import Conflict, Kube, Manifest
from headwater.controller.probe import Prober, ProbeResult, allowed
from headwater.controller.settings import STORE_MOUNT_PATH, OperatorSettings
from headwater.controller.snapshots import absolute_uri
from headwater.controller.workqueue import WorkQueue
from headwater.graph import build_graph
from headwater.references import MissingKey, with_inline_code
from headwater.status_budget import wire_size
from headwater.validation import Problem, validate, validate_function, warnings

READY = "Ready"
LEVELS_BUDGET = 64 * 1024
"""A Dataflow's `levels` are left out of its status beyond this many bytes."""
VOLATILE_STATUS_FIELDS = ("lastChecked",)


def _ready(
    conditions: list[Condition],
    ok: bool | ConditionStatus,
    reason: str,
    message: str,
    generation: int | None,
) -> list[Condition]:
    return set_condition(conditions, READY, ok, reason, message, generation)


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


def _digest(content: bytes) -> dict[str, Any]:
    return {"size": len(content), "sha256": hashlib.sha256(content).hexdigest()}


def _pushed(annotations: dict[str, str]) -> dict[str, Any] | None:
    """Size and sha256 as `headwater dataset push` recorded them, if it did."""
    sha256, size = annotations.get(PUSHED_SHA256), annotations.get(PUSHED_SIZE, "")
    if not sha256 or not size.isdigit():
        return None
    return {"size": int(size), "sha256": sha256}


def _comparable(status: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in status.items() if k not in VOLATILE_STATUS_FIELDS}


@dataclass
class Catalog:
    kube: Kube
    cache: ObjectCache
    queue: WorkQueue
    settings: OperatorSettings
    prober: Prober = field(default_factory=Prober)
    checked: dict[tuple[str, str], tuple[int | None, float]] = field(default_factory=dict)
    """uid → (generation, monotonic time) of the last check, to skip unchanged objects."""
    probes: dict[str, tuple[str, ProbeResult, float]] = field(default_factory=dict)
    """Dataset uid → (uri, result, monotonic time) of its last probe."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def due(self, plural: str, body: Manifest) -> bool:
        """Whether the resync should look at this object again."""
        metadata = body["metadata"]
        last = self.checked.get((plural, metadata.get("uid") or ""))
        if last is None or last[0] != metadata.get("generation"):
            return True
        return time.monotonic() - last[1] >= self.settings.catalog_recheck_seconds

    def check(self, plural: str, namespace: str, name: str) -> None:
        """Recompute a catalog object's status; write it only when it says something new."""
        body = self.cache.get(plural, namespace, name)
        if body is None:
            return
        if plural == "datasets":
            status: BaseModel | None = self.dataset_status(body)
        elif plural == "functions":
            status = self.function_status(body)
        else:
            status = self.dataflow_status(body)
        metadata = body["metadata"]
        self.checked[(plural, metadata.get("uid") or "")] = (
            metadata.get("generation"),
            time.monotonic(),
        )
        if status is None:
            return
        wire = status.model_dump(mode="json", by_alias=True, exclude_none=True)
        if _comparable(wire) == _comparable(body.get("status") or {}):
            return
        try:
            written = self.kube.replace_status(plural, body, wire)
        except Conflict:
            self.queue.add((plural, namespace, name))  # the watch brings the new version
            return
        if written is not None:
            self.cache.put(plural, written)

    def forget(self, plural: str, body: Manifest) -> None:
        uid = body["metadata"].get("uid") or ""
        self.checked.pop((plural, uid), None)
        self.probes.pop(uid, None)

    # Datasets.

    def dataset_status(self, body: Manifest) -> DatasetStatus | None:
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
        ok: bool | ConditionStatus
        if source.inline is not None:
            content = json.dumps(source.inline, sort_keys=True).encode()
            found = {"uri": "inline", "format": declared or "json", **_digest(content)}
            ok, reason, message = True, "Inline", "inline values"
        elif source.uri is not None:
            store_root = self.settings.store.root(namespace)
            uri = absolute_uri(source.uri, store_root)
            found = {"uri": uri, "format": declared or infer_format(uri)}
            record = _pushed(dataset.metadata.annotations)
            if self.settings.store.url is None and uri.startswith(STORE_MOUNT_PATH):
                # Inside a namespace's PVC, which only Pods mount: what the push recorded
                # is what the operator knows.
                claim = self.settings.store.pvc_name
                if record is not None:
                    ok, reason = True, "Pushed"
                    message = f"{uri}, pushed to the artifact store PVC {claim}"
                    found.update(record)
                else:
                    ok, reason = False, "NotPushed"
                    message = (
                        f"nothing was pushed to {uri} in the artifact store PVC {claim}"
                        f" (headwater dataset push {dataset.metadata.name} FILE puts it"
                        " there); the operator cannot look inside the PVC"
                    )
            elif not allowed(uri, self.settings.dataset_probe_allow, self._own_store(namespace)):
                ok, reason = ConditionStatus.UNKNOWN, "NotChecked"
                message = (
                    f"{uri} is outside what the operator may probe (its namespace's artifact"
                    " store and the platform's --dataset-probe-allow patterns); a node"
                    " reading it will tell"
                )
            else:
                result = self._probe_result(dataset.metadata.uid or "", namespace, uri, body)
                if result is None:
                    return None  # probing; the result queues this Dataset again
                ok, reason, message = result.ok, result.reason, result.message
                if result.size is not None:
                    found["size"] = result.size
                if ok and record is not None and record["size"] == result.size:
                    found["sha256"] = record["sha256"]
                if result.version is not None:
                    found["version"] = result.version
        elif source.secret_key_ref is not None:
            ref = source.secret_key_ref
            found = {
                "uri": f"secret:{ref.name}/{ref.key}",
                "format": declared or infer_format(ref.key),
            }
            ok, reason = ConditionStatus.UNKNOWN, "NotChecked"
            message = (
                f"Secret {ref.name} is not read by the operator; a node that cannot mount"
                f" key {ref.key} fails with the Pod's FailedMount message"
            )
        else:
            ref = source.config_map_key_ref
            assert ref is not None
            values = self.kube.config_map_values(namespace, ref.name)
            found = {
                "uri": f"configmap:{ref.name}/{ref.key}",
                "format": declared or infer_format(ref.key),
            }
            if values is None:
                ok, reason, message = False, "ConfigMapNotFound", f"ConfigMap {ref.name} not found"
            elif ref.key not in values:
                ok, reason = False, "KeyNotFound"
                message = f"ConfigMap {ref.name} has no key {ref.key}"
            else:
                found.update(_digest(values[ref.key]))
                ok, reason, message = True, "Found", f"key {ref.key} of ConfigMap {ref.name}"
        conditions = _ready(earlier.conditions, ok, reason, message, generation)
        unchanged = earlier.sha256 == found.get("sha256") and earlier.version == found.get(
            "version"
        )
        return DatasetStatus(
            conditions=conditions,
            observed_generation=generation,
            last_checked=earlier.last_checked if unchanged and earlier.last_checked else now(),
            **found,
        )

    def _own_store(self, namespace: str) -> str | None:
        """The namespace's object-store prefix, which the operator may always probe."""
        return self.settings.store.root(namespace) if self.settings.store.url else None

    def _probe_result(
        self, uid: str, namespace: str, uri: str, body: Manifest
    ) -> ProbeResult | None:
        """The last probe of this URI if fresh enough; else start one and return None
        (the earlier status stays until the answer comes)."""
        with self.lock:
            held = self.probes.get(uid)
        fresh = (
            held is not None
            and held[0] == uri
            and time.monotonic() - held[2] < self.settings.catalog_recheck_seconds
        )
        if fresh:
            assert held is not None
            return held[1]
        key = ("datasets", namespace, body["metadata"]["name"])
        future = self.prober.submit(namespace, uri)
        if future is None:
            self.queue.add_after(key, 1.0)  # another probe of this namespace runs
            return held[1] if held is not None and held[0] == uri else None

        def answered(done: Any) -> None:
            with self.lock:
                self.probes[uid] = (uri, done.result(), time.monotonic())
            self.queue.add(key)

        future.add_done_callback(answered)
        return None

    # Functions.

    def function_status(self, body: Manifest) -> FunctionStatus:
        try:
            function = Function.model_validate(body)
        except ValidationError as error:
            return _unreadable(FunctionStatus, body, error)
        earlier: FunctionStatus = _earlier(FunctionStatus, body)
        generation = function.metadata.generation
        namespace = function.metadata.namespace or "default"
        spec, missing = self.with_code(function.spec, namespace)
        if missing:
            conditions = _ready(earlier.conditions, False, "CodeNotFound", missing, generation)
        else:
            problems = validate_function(spec, code_issues=check_code_isolated)
            if problems:
                message = _problems_message(problems)
                conditions = _ready(earlier.conditions, False, "InvalidCode", message, generation)
            else:
                message = f"handler {spec.handler} takes the declared parameters"
                conditions = _ready(earlier.conditions, True, "Checked", message, generation)
        return FunctionStatus(conditions=conditions, observed_generation=generation)

    def with_code(self, spec: FunctionSpec, namespace: str) -> tuple[FunctionSpec, str]:
        """The spec with ConfigMap code read inline, or what is missing."""
        try:
            return with_inline_code(spec, self.kube.config_maps_of(namespace)), ""
        except MissingKey as missing:
            return spec, str(missing)

    # Dataflows.

    def dataflow_status(self, body: Manifest) -> DataflowStatus:
        """The graph and wiring against the namespace's Functions as declared; their
        code is each Function's own Ready condition, not read again here."""
        try:
            dataflow = Dataflow.model_validate(body)
        except ValidationError as error:
            return _unreadable(DataflowStatus, body, error)
        earlier: DataflowStatus = _earlier(DataflowStatus, body)
        namespace = dataflow.metadata.namespace or "default"
        generation = dataflow.metadata.generation
        used = {node.function for node in dataflow.spec.nodes}
        functions: dict[str, FunctionSpec] = {}
        for name in used:
            item = self.cache.get("functions", namespace, name)
            if item is None:
                continue
            try:
                functions[name] = _without_code(Function.model_validate(item).spec)
            except ValidationError:
                continue  # its own status says why; here it counts as unknown
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
        levels = [list(level) for level in graph.levels] or None
        if levels is not None and wire_size(levels) > LEVELS_BUDGET:
            levels = None  # thousands of nodes: the depth says enough
        return DataflowStatus(
            conditions=conditions,
            node_count=len(dataflow.spec.nodes),
            depth=len(graph.levels) or None,
            levels=levels,
            observed_generation=generation,
        )


def _without_code(spec: FunctionSpec) -> FunctionSpec:
    """A Function as the Dataflow check needs it: its declaration, code set aside so
    that the check does not parse every Function's code again."""
    return spec.model_copy(update={"code": spec.code.model_copy(update={"inline": None})})
