"""`headwater outputs`: what a Run produced — its final outputs and every node's — and
downloading them.

What there should be comes from the Run (its status: which nodes succeeded, the final
outputs' URIs and small values) and its snapshot (the Dataflow: each node's outputs);
what there is comes from one inspection of the store (each output's meta.json, and the
value of a small JSON output, read so that it prints inline)."""

from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from headwater.api import NodePhase, RunStatus
from headwater.api.base import JsonValue
from headwater.artifacts import ArtifactMeta
from headwater.artifacts.layout import RUNS, join
from headwater.artifacts.store import META_FILE
from headwater.controller.naming import snapshot_name
from headwater.controller.snapshots import Invalid, read_snapshot
from headwater.graph import build_graph
from headwater.planning import output_uris
from headwater.snapshot import Snapshot
from headwater.transfer.access import Store, Via, open_store, store_relative
from headwater.transfer.discovery import Target
from headwater.transfer.errors import NotFound, TransferError
from headwater.transfer.model import Digest, FoundArtifact, NoProgress, Progress


class Output(BaseModel):
    """One output of one node of a Run (camelCase in JSON, as Kubernetes objects)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    name: str
    node: str
    final: bool
    """A final output of the dataflow (no node reads it)."""
    uri: str
    """Where the Run's Jobs see it."""
    path: str | None
    """Relative to the store's root; None when the URI is outside it."""
    meta: ArtifactMeta | None = None
    """Its meta.json (serializer, type, size, sha256, file); None when not in the store."""
    value: JsonValue = None
    has_value: bool = False
    """True when `value` holds the (small, plain JSON) output itself."""


def _expected(target: Target, run: str) -> tuple[list[Output], dict[str, JsonValue]]:
    """Every output of the Run's succeeded nodes, before looking in the store."""
    body = target.kube.get("runs", run)
    if body is None:
        raise NotFound(f"no Run {run} in namespace {target.namespace}")
    try:
        status = RunStatus.model_validate(body.get("status") or {})
    except ValidationError as error:
        raise TransferError(f"Run {run}'s status is unreadable: {error}") from None
    config_map = target.kube.config_map(snapshot_name(run))
    if config_map is None:
        if status.phase.value == "Pending":
            raise NotFound(f"Run {run} has not started: it has no outputs yet")
        raise NotFound(f"Run {run} has no snapshot ConfigMap {snapshot_name(run)}")
    try:
        snapshot = read_snapshot(config_map)
    except Invalid as error:
        raise TransferError(str(error)) from None
    return expected_outputs(snapshot, status, run, target.root), dict(status.output_values)


def expected_outputs(snapshot: Snapshot, status: RunStatus, run: str, root: str) -> list[Output]:
    """Every output of the Run's succeeded nodes, and the final outputs the status
    names, as they should be in the store at `root`: the same for a cluster's store and
    a local workspace."""
    graph = build_graph(snapshot.dataflow, snapshot.functions)
    finals = set(graph.final_outputs)
    expected: list[Output] = []
    for node in graph.node_ids:
        state = status.nodes.get(node)
        if state is None or state.phase != NodePhase.SUCCEEDED:
            # Left out of a large status, or not succeeded: a final output still
            # says where it is.
            uris = {n: u for n, u in status.outputs.items() if n in graph.outputs.get(node, ())}
        else:
            uris = state.outputs or output_uris(root, run, node, graph)
        for name, uri in uris.items():
            expected.append(
                Output(
                    name=name,
                    node=node,
                    final=name in finals,
                    uri=uri,
                    path=store_relative(uri, root),
                )
            )
    return expected


def _globs(run: str, outputs: list[Output]) -> list[str]:
    """One wildcard for the Run's own folder, exact folders for reused outputs."""
    own = join(RUNS, run) + "/"
    others = sorted({o.path for o in outputs if o.path and not o.path.startswith(own)})
    return [join(RUNS, run, "*", "*"), *others]


def list_outputs(target: Target, run: str, via: Via | None = None) -> list[Output]:
    """The Run's outputs in dataflow order, with what each meta.json says; an output
    whose meta.json is not in the store is listed without one."""
    return _listed(target, run, open_store(target, run, via))


def _listed(target: Target, run: str, store: Store) -> list[Output]:
    expected, values = _expected(target, run)
    if not expected:
        return []
    found: dict[str, FoundArtifact] = {
        artifact.directory: artifact for artifact in store.inspect(_globs(run, expected)).artifacts
    }
    listed = []
    for output in expected:
        artifact = found.get(output.path or "")
        update: dict[str, object] = {}
        if artifact is not None:
            update["meta"] = artifact.meta
            if artifact.has_value:
                update |= {"value": artifact.value, "has_value": True}
        if output.final and output.name in values:
            update |= {"value": values[output.name], "has_value": True}
        listed.append(output.model_copy(update=update))
    return listed


def choose(outputs: list[Output], name: str) -> Output:
    """The output called `name` (or `node/name`)."""
    for output in outputs:
        if name in (output.name, f"{output.node}/{output.name}"):
            return output
    known = ", ".join(f"{o.node}/{o.name}" for o in outputs) or "none"
    raise NotFound(f"no output {name}; the Run's outputs: {known}")


def download_outputs(
    target: Target,
    run: str,
    into: Path,
    name: str | None = None,
    via: Via | None = None,
    progress: Progress | None = None,
) -> list[Path]:
    """Download one output (`name`) or all into `into/<node>/<output>/`: the data file
    and meta.json beside it, as in the store. Returns the data files written."""
    store = open_store(target, run, via)
    outputs = _listed(target, run, store)
    chosen = [choose(outputs, name)] if name else outputs
    missing = [f"{o.node}/{o.name}" for o in chosen if o.meta is None or o.path is None]
    if missing:
        raise NotFound(f"not in the artifact store: {', '.join(missing)}")
    items: list[tuple[str, Digest | None, Path]] = []
    for output in chosen:
        assert output.meta is not None and output.path is not None
        digest = Digest(size=output.meta.size, sha256=output.meta.sha256)
        destination = into / output.node / output.name / output.meta.file
        items.append((join(output.path, output.meta.file), digest, destination))
    store.fetch(items, progress or NoProgress())
    for output in chosen:
        assert output.meta is not None
        # As the runner writes it (headwater.artifacts.store), from the inspection.
        meta = into / output.node / output.name / META_FILE
        meta.write_text(output.meta.model_dump_json(indent=2))
    return [destination for _, _, destination in items]
