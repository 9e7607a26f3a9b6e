"""The local executor's side of reuse: earlier runs and the cache, from the workspace.

An earlier run is `runs/<run>/status.json` with the `snapshot.json` beside it; the cache
is a folder of entries, `cache/<fingerprint>.json`, each naming the run, node and output
URIs of one result. The plan itself is the core's (`headwater.reuse`), the same as in a
cluster.
"""

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ValidationError

from headwater.api import Run, RunStatus, now
from headwater.artifacts.store import META_FILE
from headwater.fingerprint import fingerprints
from headwater.graph import build_graph
from headwater.reuse import CacheEntry, Earlier, offers, plan
from headwater.snapshot import Snapshot
from headwater.status_budget import expand
from headwater.suggest import Names

CACHE = "cache"


class ResumeError(Exception):
    """resumeFrom names nothing this workspace can resume from."""


class StoredEntry(BaseModel):
    run: str
    node: str
    function: str
    outputs: list[str]
    finished_at: datetime


@dataclass(frozen=True)
class LocalCache:
    workdir: Path

    @property
    def folder(self) -> Path:
        return self.workdir / CACHE

    def entries(self) -> dict[str, StoredEntry]:
        """Fingerprint digest → entry, skipping entries whose outputs are gone."""
        found = {}
        for path in sorted(self.folder.glob("*.json")) if self.folder.exists() else []:
            try:
                entry = StoredEntry.model_validate_json(path.read_text())
            except (OSError, ValidationError):
                continue
            if all((Path(uri) / META_FILE).exists() for uri in entry.outputs):
                found[path.stem] = entry
        return found

    def offers(self) -> dict[str, CacheEntry]:
        return {
            digest: CacheEntry(e.run, e.node, e.outputs, e.finished_at)
            for digest, e in self.entries().items()
        }

    def record(self, run: Run, snapshot: Snapshot, status: RunStatus, store_root: str) -> int:
        """Offer the results this run computed (not those it reused) to later runs;
        how many were offered."""
        graph = build_graph(snapshot.dataflow, snapshot.functions)
        offered = offers(run, snapshot, graph, status, store_root, now())
        self.folder.mkdir(parents=True, exist_ok=True)
        for offer in offered:
            entry = StoredEntry(
                run=run.metadata.name,
                node=offer.node,
                function=offer.function,
                outputs=offer.outputs,
                finished_at=offer.finished_at,
            )
            (self.folder / f"{offer.digest}.json").write_text(entry.model_dump_json(indent=2))
        return len(offered)

    def clear(self, run: str | None = None) -> int:
        """Drop entries (of one run, or all); how many."""
        dropped = 0
        for digest, entry in self.entries().items():
            if run is None or entry.run == run:
                (self.folder / f"{digest}.json").unlink(missing_ok=True)
                dropped += 1
        return dropped


def earlier_run(workdir: Path, name: str, store_root: str) -> Earlier:
    """The run `name` as `headwater run` left it in this workspace."""
    folder = workdir / "runs" / name
    files = {part: folder / f"{part}.json" for part in ("status", "snapshot", "run")}
    if not files["status"].exists():
        known = Names(p.name for p in (workdir / "runs").glob("*") if p.is_dir())
        raise ResumeError(
            f"resumeFrom: no run {name} in {workdir / 'runs'}{known.did_you_mean(name)}"
        )
    if not (files["snapshot"].exists() and files["run"].exists()):
        raise ResumeError(
            f"resumeFrom: run {name} was made by an older headwater (no snapshot.json):"
            " its results cannot be checked, so none would be reused"
        )
    try:
        status = RunStatus.model_validate_json(files["status"].read_text())
        snapshot = Snapshot.model_validate_json(files["snapshot"].read_text())
        spec = Run.model_validate_json(files["run"].read_text()).spec
    except (OSError, ValidationError, ValueError) as error:
        raise ResumeError(f"resumeFrom: run {name} cannot be read: {error}") from None
    graph = build_graph(snapshot.dataflow, snapshot.functions)
    prints = fingerprints(snapshot, graph, spec.parameters, spec.env)
    return Earlier(name, snapshot, graph, prints, expand(status, graph.node_ids), store_root)


def planned(run: Run, snapshot: Snapshot, workdir: Path, store_root: str) -> Snapshot:
    """The snapshot with its reuse plan, from resumeFrom and the cache. A result whose
    outputs are gone from the workspace is not reused, and the plan says so."""
    graph = build_graph(snapshot.dataflow, snapshot.functions)
    prints = fingerprints(snapshot, graph, run.spec.parameters, run.spec.env)
    earlier = (
        earlier_run(workdir, run.spec.resume_from, store_root) if run.spec.resume_from else None
    )
    cache = run.spec.cache
    offers = LocalCache(workdir).offers() if cache is not None and cache.enabled else None
    max_age = cache.max_age_seconds if cache is not None else None
    decided = plan(graph, snapshot, prints, earlier, offers, now(), max_age)
    for node, reused in list(decided.reuse.items()):
        if not all((Path(uri) / META_FILE).exists() for uri in reused.outputs):
            del decided.reuse[node]
            decided.reasons[node] = f"ran: its outputs in run {reused.run} are gone"
    return snapshot.model_copy(update={"reuse": decided.reuse, "reasons": decided.reasons})
