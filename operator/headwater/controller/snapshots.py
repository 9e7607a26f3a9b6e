"""Freeze what a Run executes, from its own namespace, into a ConfigMap it owns: the
Dataflow, the Functions with their code, the Datasets it binds. Jobs mount the code
from there, so editing a Function later does not change a Run in flight."""

import json
import posixpath
from collections.abc import Callable
from typing import Any

from fsspec.core import split_protocol
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from headwater.api import (
    Dataflow,
    Dataset,
    Function,
    FunctionCode,
    FunctionSpec,
    KeyRef,
    Run,
)
from headwater.artifacts import content, infer_format
from headwater.codeworker import check_code_isolated
from headwater.controller.cache import ObjectCache
from headwater.controller.jobs import code_key, dataset_mount
from headwater.controller.kube import Kube, Manifest, api_message
from headwater.controller.naming import labels, owner_reference, snapshot_name
from headwater.controller.settings import OperatorSettings
from headwater.references import MissingKey, key_value, with_inline_code
from headwater.snapshot import ResolvedDataset, Snapshot
from headwater.suggest import Names
from headwater.validation import check_parameters, describe, validate

SNAPSHOT_KEY = "snapshot.json"


class NotReady(Exception):
    """Something the Run needs does not exist yet; it may be applied any moment."""

    def __init__(self, reason: str, missing: list[str]) -> None:
        self.reason = reason
        super().__init__("waiting for " + "; ".join(missing))


class Invalid(Exception):
    """The Run cannot run as written; it fails with this reason and message."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


def load_or_freeze(
    run: Run,
    kube: Kube,
    catalog: ObjectCache,
    settings: OperatorSettings,
    with_plan: Callable[[Snapshot], Snapshot] = lambda snapshot: snapshot,
) -> Snapshot:
    """The Run's snapshot: read back when it was frozen before, else frozen now, with
    the reuse plan `with_plan` adds (resumeFrom, cache) frozen into it."""
    namespace = run.metadata.namespace
    assert namespace is not None
    existing = kube.read_config_map(namespace, snapshot_name(run.metadata.name))
    if existing is not None:
        owners = existing["metadata"].get("ownerReferences") or []
        if any(o.get("uid") == run.metadata.uid for o in owners):
            return read_snapshot(existing)
        # A Run deleted and made again with the same name: the old one's snapshot is
        # still being garbage-collected.
        raise NotReady(
            "SnapshotPending", [f"the previous Run {run.metadata.name}'s snapshot to go"]
        )
    if run.status is not None and run.status.started_at is not None:
        # Freezing again would run the rest on today's Functions, not the Run's own.
        raise Invalid(
            "SnapshotLost",
            f"the snapshot ConfigMap {snapshot_name(run.metadata.name)} was deleted"
            " while the Run was in flight",
        )
    snapshot = with_plan(freeze(run, kube, catalog, settings))
    try:
        kube.create_config_map(snapshot_config_map(run, snapshot))
    except ApiException as error:
        if error.status not in (400, 422):
            raise
        # Too big for a ConfigMap (1 MiB), say: storing it again cannot help.
        raise Invalid(
            "SnapshotRejected",
            "the Run's snapshot (its Dataflow, Functions' code and Datasets) cannot be"
            f" stored: {api_message(error)}",
        ) from None
    return snapshot


def read_snapshot(config_map: Manifest) -> Snapshot:
    """A snapshot as `snapshot_config_map` stored it, each Function's code put back."""
    data = config_map.get("data") or {}
    try:
        document = json.loads(data[SNAPSHOT_KEY])
        snapshot = Snapshot.model_validate(document)
    except (KeyError, ValueError, ValidationError) as error:
        raise Invalid("SnapshotUnreadable", f"the Run's snapshot: {error}") from None
    own = config_map["metadata"]["name"]
    functions = {}
    for name, spec in snapshot.functions.items():
        source = data.get(code_key(name))
        if source is not None:
            ref = spec.code.config_map_key_ref
            # The user's ConfigMap reference stays (it names the file in tracebacks).
            kept = ref if ref is not None and ref.name != own else None
            code = FunctionCode(inline=source, config_map_key_ref=kept)
            spec = spec.model_copy(update={"code": code})
        functions[name] = spec
    return snapshot.model_copy(update={"functions": functions})


def freeze(run: Run, kube: Kube, catalog: ObjectCache, settings: OperatorSettings) -> Snapshot:
    namespace = run.metadata.namespace
    assert namespace is not None
    body = catalog.get("dataflows", namespace, run.spec.dataflow)
    if body is None:
        missing_dataflow = Missing(catalog, "dataflows", namespace)("Dataflow", run.spec.dataflow)
        raise NotReady("DataflowNotFound", [missing_dataflow])
    try:
        dataflow = Dataflow.model_validate(body)
    except ValidationError as error:
        raise Invalid("InvalidDataflow", f"Dataflow {run.spec.dataflow}: {error}") from None
    functions, missing = _functions(dataflow, kube, catalog, namespace)
    if missing:
        raise NotReady("FunctionNotFound", missing)
    # Datasets are not checked here: one not applied yet may come any moment, so
    # `_datasets` below reports it as missing and the Run waits, Pending.
    problems = validate(
        dataflow.spec,
        functions,
        run.spec,
        None,
        dataflow_name=dataflow.metadata.name,
        run_name=run.metadata.name,
        code_issues=check_code_isolated,
    )
    if problems:
        raise Invalid("InvalidDataflow", describe(problems))
    datasets, missing = _datasets(run, kube, catalog, settings)
    if missing:
        raise NotReady("DataNotFound", missing)
    inline = {name: found.inline for name, found in datasets.items() if found.is_inline}
    wrong = check_parameters(dataflow.spec, functions, run.spec, inline, run_name=run.metadata.name)
    if wrong:
        raise Invalid("InvalidParameters", describe(wrong))
    return Snapshot(dataflow=dataflow.spec, functions=functions, datasets=datasets)


class Missing:
    """Names a missing object with the closest one of its kind in the namespace (from
    the cache); lists them only when something is missing, and once."""

    def __init__(self, catalog: ObjectCache, plural: str, namespace: str) -> None:
        self.catalog, self.plural, self.namespace = catalog, plural, namespace
        self.names: Names | None = None

    def __call__(self, kind: str, name: str) -> str:
        if self.names is None:
            items = self.catalog.items(self.plural, self.namespace)
            self.names = Names(item["metadata"]["name"] for item in items)
        closest = self.names.closest(name)
        return f"{kind} {name}" + (f" (did you mean {closest!r}?)" if closest else "")


def _functions(
    dataflow: Dataflow, kube: Kube, catalog: ObjectCache, namespace: str
) -> tuple[dict[str, FunctionSpec], list[str]]:
    functions: dict[str, FunctionSpec] = {}
    missing: list[str] = []
    missing_function = Missing(catalog, "functions", namespace)
    for name in dict.fromkeys(node.function for node in dataflow.spec.nodes):
        body = catalog.get("functions", namespace, name)
        if body is None:
            missing.append(missing_function("Function", name))
            continue
        try:
            spec = Function.model_validate(body).spec
        except ValidationError as error:
            raise Invalid("InvalidFunction", f"Function {name}: {error}") from None
        try:
            functions[name] = with_inline_code(spec, kube.config_maps_of(namespace))
        except MissingKey as error:
            missing.append(f"{error} (code of Function {name})")
    return functions, missing


def _datasets(
    run: Run, kube: Kube, catalog: ObjectCache, settings: OperatorSettings
) -> tuple[dict[str, ResolvedDataset], list[str]]:
    namespace = run.metadata.namespace
    assert namespace is not None
    resolved: dict[str, ResolvedDataset] = {}
    missing: list[str] = []
    missing_dataset = Missing(catalog, "datasets", namespace)
    for binding in run.spec.parameters.values():
        if binding.dataset is None or binding.dataset in resolved:
            continue
        body = catalog.get("datasets", namespace, binding.dataset)
        if body is None:
            missing.append(missing_dataset("Dataset", binding.dataset))
            continue
        try:
            dataset = Dataset.model_validate(body)
        except ValidationError as error:
            raise Invalid("InvalidDataset", f"Dataset {binding.dataset}: {error}") from None
        found = resolve_in_cluster(dataset, kube, settings.store.root(namespace), namespace)
        if isinstance(found, str):
            missing.append(found)
        else:
            resolved[binding.dataset] = found
    return resolved, missing


def resolve_in_cluster(
    dataset: Dataset, kube: Kube, store_root: str, namespace: str
) -> ResolvedDataset | str:
    """Where a Job finds the dataset's data, or what is missing."""
    name = dataset.metadata.name
    source = dataset.spec.source
    declared = dataset.spec.format
    if source.inline is not None:
        return ResolvedDataset(
            format=declared or "json",
            inline=source.inline,
            is_inline=True,
            content=content.of_inline(source.inline),
        )
    if source.uri is not None:
        return ResolvedDataset(
            uri=absolute_uri(source.uri, store_root),
            format=declared or infer_format(source.uri),
            content=_checked_content(dataset),
        )
    ref = source.config_map_key_ref or source.secret_key_ref
    assert ref is not None
    known = None
    if source.config_map_key_ref is not None:
        try:
            known = content.of_bytes(key_value("ConfigMap", ref, kube.config_maps_of(namespace)))
        except MissingKey as missing:
            return f"{missing} (Dataset {name})"
    # A Secret is never read by the operator: a Job that cannot mount it shows why
    # within seconds (FailedMount), and the node fails after the Pod start timeout.
    return ResolvedDataset(
        uri=dataset_mount(name, ref.key),
        format=declared or infer_format(ref.key),
        config_map_key_ref=source.config_map_key_ref,
        secret_key_ref=source.secret_key_ref,
        content=known,
    )


def _checked_content(dataset: Dataset) -> str | None:
    """What the operator's last check of this spec found of the bytes (a sha256 from a
    push, a version from the object store), if it checked this version of the spec."""
    status = dataset.status
    if status is None or status.observed_generation != dataset.metadata.generation:
        return None
    if status.sha256:
        return content.of_sha256(status.sha256)
    return content.of_version(status.version) if status.version else None


def absolute_uri(uri: str, store_root: str) -> str:
    """A relative URI lives in the artifact store, where `headwater dataset push` puts it."""
    protocol, path = split_protocol(uri)
    if protocol is not None or posixpath.isabs(path):
        return uri
    return posixpath.join(store_root, path)


def snapshot_config_map(run: Run, snapshot: Snapshot) -> Manifest:
    """The snapshot as a ConfigMap: each Function's code once, under the key a Job
    mounts, and snapshot.json pointing at those keys rather than holding a second copy."""
    name = snapshot_name(run.metadata.name)
    data: dict[str, Any] = {}
    functions = {}
    for function_name, function in snapshot.functions.items():
        if function.code.inline is not None:
            key = code_key(function_name)
            data[key] = function.code.inline
            ref = function.code.config_map_key_ref or KeyRef(name=name, key=key)
            function = function.model_copy(update={"code": FunctionCode(config_map_key_ref=ref)})
        functions[function_name] = function
    stored = snapshot.model_copy(update={"functions": functions})
    data[SNAPSHOT_KEY] = json.dumps(stored.to_wire(), sort_keys=True)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": run.metadata.namespace,
            "labels": labels(run, component="snapshot"),
            "ownerReferences": [owner_reference(run)],
        },
        "data": data,
        "immutable": True,
    }
