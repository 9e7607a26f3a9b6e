"""The local workspace as a place to run Runs: what `Client.local()` drives.

    <workspace>/manifests/<kind>.<name>.yaml   what `apply` was given, as YAML
    <workspace>/datasets/<name>/<file>         what `push_dataset` copied in
    <workspace>/runs/<run>/submitted.yaml      a submitted Run and what it needs
    <workspace>/runs/<run>/driver.json, driver.log   its background `headwater run`

A submitted Run is checked here, as `headwater validate` checks it, then executed by
`headwater run` in a process of its own session, so it goes on while the notebook does
other things (or is closed), and `stop` is the Ctrl-C that `headwater run` turns into a
Cancelled status. Relative Dataset URIs resolve against the workspace, which is the
local store's root, as they resolve against the store's root in a cluster.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from headwater import api
from headwater.api import Dataset, Run, RunPhase, RunStatus, now, set_condition
from headwater.artifacts import ArtifactError, infer_format, is_local, layout
from headwater.artifacts.store import META_FILE, read_meta
from headwater.engine import FINISHED, RUNNING, SUCCEEDED, TERMINAL_PHASES
from headwater.kubeyaml import dump_all
from headwater.local.check import check
from headwater.local.driver import Workspace
from headwater.local.node_log import LOG_FILE, read_attempt, split_attempts, whole_lines
from headwater.local.reuse import LocalCache
from headwater.manifests import ManifestError, Manifests, load_manifests
from headwater.sdk.backend import CachedResult, LogChunk, Manifest, RunRecord
from headwater.sdk.builders import key_values_manifest, manifests
from headwater.sdk.errors import HeadwaterError, InvalidManifests, NotFound
from headwater.snapshot import Snapshot
from headwater.suggest import did_you_mean

if TYPE_CHECKING:  # the transfer package loads the Kubernetes client
    from headwater.transfer import Output

KINDS = ("Dataset", "Function", "Dataflow", "ConfigMap", "Secret")
"""What `apply` keeps; Runs are submitted."""
SUBMITTED = "submitted.yaml"
DRIVER = "driver.json"
DRIVER_LOG = "driver.log"
STOP_REQUESTED = "stop-requested"
POLL_SECONDS = 0.5
INLINE_VALUE_LIMIT = 256
"""A JSON output this small (bytes) is read for listings, as `headwater outputs` does."""

_drivers: dict[int, subprocess.Popen[bytes]] = {}
"""Drivers this process started, reaped when looked at so none lingers as a zombie."""


class LocalBackend:
    def __init__(self, path: str | Path = ".headwater") -> None:
        self.workspace = Workspace(Path(path))
        self.root = Path(path).resolve()
        self.where = f"workspace {path}"

    @property
    def catalog(self) -> Path:
        return self.root / "manifests"

    # Objects.

    def apply(self, documents: list[Manifest]) -> list[str]:
        """Each document checked as kubectl reads it, then kept in the catalog."""
        lines = []
        self.catalog.mkdir(parents=True, exist_ok=True)
        for document in documents:
            kind, name = document.get("kind"), (document.get("metadata") or {}).get("name")
            if kind == "Run":
                raise TypeError("Runs are submitted, not applied: client.submit(dataflow, …)")
            if kind not in KINDS or not name:
                raise TypeError(f"cannot apply {kind}/{name} locally; only {', '.join(KINDS)}")
            text = dump_all([document])
            with tempfile.TemporaryDirectory() as scratch:
                trial = Path(scratch) / "object.yaml"
                trial.write_text(text)
                try:
                    load_manifests([trial])
                except ManifestError as error:
                    raise InvalidManifests([str(p) for p in error.problems]) from None
            target = self.catalog / f"{kind.lower()}.{name}.yaml"
            verb = "unchanged" if target.exists() and target.read_text() == text else None
            verb = verb or ("configured" if target.exists() else "created")
            target.write_text(text)
            lines.append(f"{kind}/{name} {verb}")
        return lines

    def push_dataset(self, name: str, path: Path, data_format: str | None) -> str:
        if not path.is_file():
            raise NotFound(f"{path}: no such file")
        chosen = data_format or infer_format(path.name)
        target = Path(layout.dataset_file(str(self.root), name, path.name))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        dataset = Dataset(
            metadata=api.ObjectMeta(name=name),
            spec=api.DatasetSpec(
                format=chosen, source=api.DatasetSource(uri=layout.dataset_uri(name, path.name))
            ),
        )
        self.apply([dataset.to_wire()])
        return f"dataset {name}: copied {path} to {target}"

    def _catalog(self) -> Manifests:
        """What was applied, with relative Dataset URIs made absolute in the workspace."""
        if not self.catalog.exists():
            return Manifests()
        loaded = load_manifests([self.catalog])
        for name, dataset in loaded.datasets.items():
            uri = dataset.spec.source.uri
            if (
                uri is not None
                and is_local(uri)
                and not Path(uri.removeprefix("file://")).is_absolute()
            ):
                source = dataset.spec.source.model_copy(
                    update={"uri": str(self.root / uri.removeprefix("file://"))}
                )
                spec = dataset.spec.model_copy(update={"source": source})
                loaded.datasets[name] = dataset.model_copy(update={"spec": spec})
        return loaded

    # Runs.

    def create_run(self, run: Run) -> None:
        name = run.metadata.name
        folder = self.workspace.run_dir(name)
        if folder.exists():
            raise HeadwaterError(f"a Run named {name} exists in {self.where}: choose another name")
        catalog = self._catalog()
        catalog.runs[name] = run
        with tempfile.TemporaryDirectory() as scratch:
            findings = check(catalog, Path(scratch))
        mine = _related(catalog, run)
        errors = [str(p) for p in findings.errors if p.resource in mine or not p.resource]
        if errors:
            raise InvalidManifests(errors)
        folder.mkdir(parents=True)
        bundle = folder / SUBMITTED
        bundle.write_text(dump_all(_bundle(catalog, run)))
        self._start_driver(name, bundle)

    def _start_driver(self, name: str, bundle: Path) -> None:
        folder = self.workspace.run_dir(name)
        command = [sys.executable, "-m", "headwater", "run", str(bundle)]
        command += ["--workdir", str(self.root)]
        with (folder / DRIVER_LOG).open("wb") as log:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own session: Ctrl-C in the terminal or the notebook does not reach
                # it; `stop` does, as SIGINT to it alone.
                start_new_session=True,
                env={**os.environ, "COLUMNS": "120"},
            )
        _drivers[process.pid] = process
        (folder / DRIVER).write_text(json.dumps({"pid": process.pid, "bundle": str(bundle)}))

    def _driver_alive(self, name: str) -> bool:
        try:
            driver = json.loads((self.workspace.run_dir(name) / DRIVER).read_text())
        except (OSError, ValueError):
            return False
        return _alive(int(driver["pid"]), str(driver["bundle"]))

    def read_run(self, name: str) -> RunRecord | None:
        folder = self.workspace.run_dir(name)
        run = _submitted(folder)
        if run is None:
            return None
        status = self.workspace.read_status(name)
        if (status is None or status.phase not in TERMINAL_PHASES) and not self._driver_alive(name):
            # Read again: the driver may have written its last status and exited since.
            status = self._ended_without_status(name, self.workspace.read_status(name))
        return RunRecord(run.model_copy(update={"status": status}), _created(folder))

    def _ended_without_status(self, name: str, status: RunStatus | None) -> RunStatus | None:
        """The driver is gone and left no final status (killed, or stopped before its
        first step): say so in the status, once, so that every reader agrees."""
        folder = self.workspace.run_dir(name)
        if status is not None and status.phase in TERMINAL_PHASES:
            return status
        if not (folder / DRIVER).exists():
            return status  # a run `headwater run` made: what it left is all there is
        stopped = (folder / STOP_REQUESTED).exists()
        tail = _tail(folder / DRIVER_LOG)
        message = "stopped" if stopped else f"the local driver exited early: {tail or 'no output'}"
        moment = now()
        reason = "Stopped" if stopped else "DriverExited"
        conditions = (status or RunStatus()).conditions
        for kind, value in ((SUCCEEDED, False), (FINISHED, True), (RUNNING, False)):
            conditions = set_condition(conditions, kind, value, reason, message, at=moment)
        ended = (status or RunStatus()).model_copy(
            update={
                "phase": RunPhase.CANCELLED if stopped else RunPhase.FAILED,
                "conditions": conditions,
                "finished_at": moment,
                "started_at": (status.started_at if status else None) or moment,
            }
        )
        self.workspace.write_status(name, ended)
        return ended

    def list_runs(self) -> list[RunRecord]:
        runs = self.root / "runs"
        found = [self.read_run(p.name) for p in sorted(runs.iterdir())] if runs.exists() else []
        return sorted((r for r in found if r), key=lambda r: (r.created or now(), r.name))

    def stop_run(self, name: str) -> None:
        folder = self._existing(name)
        status = self.workspace.read_status(name)
        if status is not None and status.phase in TERMINAL_PHASES:
            return
        (folder / STOP_REQUESTED).touch()
        try:
            driver = json.loads((folder / DRIVER).read_text())
        except (OSError, ValueError):
            return
        if _alive(int(driver["pid"]), str(driver["bundle"])):
            os.kill(int(driver["pid"]), signal.SIGINT)

    def delete_run(self, name: str) -> None:
        """Stop it if it runs, then remove its folder: status, logs and outputs."""
        folder = self._existing(name)
        if self._driver_alive(name):
            self.stop_run(name)
            deadline = time.monotonic() + 30
            while self._driver_alive(name) and time.monotonic() < deadline:
                time.sleep(POLL_SECONDS)
        shutil.rmtree(folder)

    def _existing(self, name: str) -> Path:
        folder = self.workspace.run_dir(name)
        if _submitted(folder) is None:
            known = [p.name for p in (self.root / "runs").glob("*") if p.is_dir()]
            raise NotFound(f"no Run {name} in {self.where}{did_you_mean(name, known)}")
        return folder

    def unserved(self, record: RunRecord, after_seconds: float) -> str | None:
        return None  # the driver either runs or has said how it ended

    # Outputs.

    def outputs(self, record: RunRecord) -> "list[Output]":
        from headwater.transfer.outputs import expected_outputs

        snapshot = _snapshot(self.workspace.run_dir(record.name))
        status = record.run.status or RunStatus()
        if snapshot is None:
            return []
        expected = expected_outputs(snapshot, status, record.name, str(self.root))
        return [output.model_copy(update=_found(output.uri)) for output in expected]

    def download(self, record: RunRecord, name: str | None, into: Path) -> list[Path]:
        from headwater.transfer import choose

        listed = self.outputs(record)
        chosen = [choose(listed, name)] if name else listed
        written = []
        for output in chosen:
            if output.meta is None:
                raise NotFound(f"output {output.node}/{output.name} is not in {self.where}")
            target = into / output.node / output.name
            target.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(output.uri) / output.meta.file, target / output.meta.file)
            shutil.copyfile(Path(output.uri) / META_FILE, target / META_FILE)
            written.append(target / output.meta.file)
        return written

    # Logs.

    def logs(self, record: RunRecord, wanted: list[tuple[str, int | None]]) -> list[LogChunk]:
        chunks = []
        for node, attempt in wanted:
            found = read_attempt(self._node_log(record.name, node), attempt)
            if found is None:
                which = f"attempt {attempt} of node {node}" if attempt else f"node {node}"
                raise NotFound(f"{which} of run {record.name} has no log in {self.where}")
            chunks.append(LogChunk(node, found.attempt, found.data.decode(errors="replace")))
        return chunks

    def follow(self, name: str, nodes: list[str] | None) -> Iterator[LogChunk]:
        """Reads each node's log from where it stopped, every half second, until the run
        has ended and the last words are read."""
        read: dict[str, tuple[int, int]] = {}
        # per node: the bytes read so far, and the attempt they ended in
        while True:
            record = self.read_run(name)
            if record is None:
                raise NotFound(f"no Run {name} in {self.where}")
            status = record.run.status or RunStatus()
            ended = status.phase in TERMINAL_PHASES
            for node in nodes or list(status.nodes):
                offset, attempt = read.get(node, (0, 1))
                with suppress(FileNotFoundError), self._node_log(name, node).open("rb") as log:
                    log.seek(offset)
                    data = log.read()
                    data = data if ended else whole_lines(data)
                    for segment in split_attempts(data, attempt):
                        attempt = segment.attempt
                        if segment.data:
                            yield LogChunk(node, attempt, segment.data.decode(errors="replace"))
                    read[node] = (offset + len(data), attempt)
            if ended:
                return
            time.sleep(POLL_SECONDS)

    def _node_log(self, run: str, node: str) -> Path:
        return self.workspace.node_dir(run, node) / LOG_FILE

    # Cache.

    def cache_entries(self) -> list[CachedResult]:
        return [
            CachedResult(digest, e.run, e.node, e.function, e.outputs, e.finished_at)
            for digest, e in LocalCache(self.root).entries().items()
        ]

    def clear_cache(self, run: str | None) -> int:
        return LocalCache(self.root).clear(run)


def _alive(pid: int, marker: str) -> bool:
    """Whether the driver with this pid still runs (and is ours: a pid is reused)."""
    process = _drivers.get(pid)
    if process is not None:
        # Ours and not reaped, so the pid is not reused; and until it has exec'd, its
        # cmdline is still this process's, without the marker.
        if process.poll() is None:
            return True
        del _drivers[pid]
        return False
    proc = Path(f"/proc/{pid}/cmdline")
    if proc.parent.parent.exists() and Path("/proc/self").exists():
        try:
            return marker.encode() in proc.read_bytes()
        except OSError:
            return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _created(folder: Path) -> datetime | None:
    for candidate in (folder / SUBMITTED, folder / "run.json"):
        if candidate.exists():
            return datetime.fromtimestamp(candidate.stat().st_mtime, UTC).replace(microsecond=0)
    return None


def _submitted(folder: Path) -> Run | None:
    """The Run as submitted, or as `headwater run` recorded it."""
    for candidate in (folder / SUBMITTED, folder / "run.json"):
        if not candidate.exists():
            continue
        try:
            if candidate.suffix == ".json":
                return Run.model_validate_json(candidate.read_text())
            return load_manifests([candidate]).runs.popitem()[1]
        except (OSError, ValidationError, ManifestError, KeyError):
            return None
    return None


def _snapshot(folder: Path) -> Snapshot | None:
    try:
        return Snapshot.model_validate_json((folder / "snapshot.json").read_text())
    except (OSError, ValidationError):
        return None


def _related(catalog: Manifests, run: Run) -> set[str]:
    """The resources a Run's problems can be about."""
    names = {f"Run/{run.metadata.name}", f"Dataflow/{run.spec.dataflow}"}
    dataflow = catalog.dataflows.get(run.spec.dataflow)
    for node in dataflow.spec.nodes if dataflow else []:
        names.add(f"Function/{node.function}")
    names |= {f"Dataset/{b.dataset}" for b in run.spec.parameters.values() if b.dataset}
    return names


def _bundle(catalog: Manifests, run: Run) -> list[Manifest]:
    """The Run and exactly what it reads, for its driver: what else is applied stays
    out of its way."""
    documents: list[Manifest] = []
    dataflow = catalog.dataflows[run.spec.dataflow]
    functions = {n.function: catalog.functions[n.function] for n in dataflow.spec.nodes}
    datasets = {
        b.dataset: catalog.datasets[b.dataset] for b in run.spec.parameters.values() if b.dataset
    }
    config_maps = {
        f.spec.code.config_map_key_ref.name
        for f in functions.values()
        if f.spec.code.config_map_key_ref
    }
    config_maps |= {
        d.spec.source.config_map_key_ref.name
        for d in datasets.values()
        if d.spec.source.config_map_key_ref
    }
    secrets = {
        d.spec.source.secret_key_ref.name for d in datasets.values() if d.spec.source.secret_key_ref
    }
    for name in sorted(config_maps):
        documents.append(key_values_manifest("ConfigMap", name, catalog.config_maps[name]))
    for name in sorted(secrets):
        documents.append(key_values_manifest("Secret", name, catalog.secrets[name]))
    documents += manifests([*datasets.values(), *functions.values(), dataflow, run])
    return documents


def _found(uri: str) -> dict[str, object]:
    """What meta.json says of the output, and its value when it is small JSON."""
    try:
        meta = read_meta(uri)
    except ArtifactError:  # missing or unreadable: listed without it, as in a cluster
        return {}
    found: dict[str, object] = {"meta": meta}
    if meta.serializer == "json" and meta.size <= INLINE_VALUE_LIMIT:
        with suppress(OSError, ValueError):  # unreadable: listed without its value
            found |= {"value": json.loads((Path(uri) / meta.file).read_text()), "has_value": True}
    return found


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " / ".join(line.strip() for line in text[-lines:])
