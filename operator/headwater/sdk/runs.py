"""RunHandle: one Run, locally or in a cluster — its status, waiting for it, its
outputs and logs, stopping and retrying it."""

import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headwater.api import Run, RunPhase, RunSpec, RunStatus
from headwater.artifacts import read_artifact
from headwater.engine import TERMINAL_PHASES
from headwater.sdk.backend import Backend, LogChunk, RunRecord, empty, generated_name
from headwater.sdk.builders import binding
from headwater.sdk.errors import NoOperator, NotFound, ended_badly
from headwater.sdk.progress import progress as live_progress
from headwater.suggest import did_you_mean

if TYPE_CHECKING:
    from headwater.transfer import Output

POLL_SECONDS = 1.0
NO_OPERATOR_SECONDS = 30.0
"""How long a Run may have an empty status before `wait` says no operator serves it:
an operator looks at a new Run within a second or two, even when busy."""


class RunHandle:
    """A Run by name. Every call reads the Run afresh; `last` is the Run as last read."""

    def __init__(self, backend: Backend, name: str, record: RunRecord | None = None) -> None:
        self.backend = backend
        self.name = name
        self.record = record

    def __repr__(self) -> str:
        status = self.record.run.status if self.record else None
        if status is None:
            return f"<Run {self.name}>"
        return f"<Run {self.name} {status.phase.value} {status.progress or ''}>".replace(" >", ">")

    @property
    def last(self) -> Run | None:
        return self.record.run if self.record else None

    def _read(self) -> RunRecord:
        record = self.backend.read_run(self.name)
        if record is None:
            raise NotFound(f"no Run {self.name} in {self.backend.where}")
        self.record = record
        return record

    def get(self) -> Run:
        """The Run resource: spec and status, as they are now."""
        return self._read().run

    def status(self) -> RunStatus:
        """The Run's status now (an empty one while nothing has looked at it)."""
        return self._read().run.status or RunStatus()

    def wait(
        self,
        timeout: float | None = None,
        progress: bool = True,
        no_operator_after: float = NO_OPERATOR_SECONDS,
    ) -> RunStatus:
        """Until the Run ends; its final status when it succeeded. Raises RunFailed
        (RunCancelled) with the failed nodes' messages otherwise, TimeoutError after
        `timeout` seconds, and NoOperator once its status stays empty for
        `no_operator_after` seconds (nothing will ever run it)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with live_progress(self.name, progress) as show:
            while True:
                record = self._read()
                status = record.run.status
                if empty(status):
                    unserved = self.backend.unserved(record, no_operator_after)
                    if unserved is not None:
                        raise NoOperator(unserved)
                else:
                    assert status is not None
                    show(status)
                    if status.phase in TERMINAL_PHASES:
                        break
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError(f"run {self.name} has not ended after {timeout:g} s")
                time.sleep(POLL_SECONDS)
        if status.phase != RunPhase.SUCCEEDED:
            raise ended_badly(self.name, status)
        return status

    # Results.

    def outputs(self) -> "list[Output]":
        """Every output of its succeeded nodes (final ones marked), with what meta.json
        says and small JSON values inline."""
        return self.backend.outputs(self._read())

    def output(self, name: str) -> Any:
        """The output `name` (or `node/name`) loaded: a DataFrame for parquet, the value
        for JSON, an array for npy, the object for pickle."""
        with tempfile.TemporaryDirectory() as scratch:
            (data,) = self.backend.download(self._read(), name, Path(scratch))
            return read_artifact(str(data.parent))

    def download(self, name: str, dest: str | Path = ".") -> Path:
        """Fetch output `name` into `dest/<node>/<output>/` (its data file and
        meta.json); the data file's path."""
        (data,) = self.backend.download(self._read(), name, Path(dest))
        return data

    def logs(self, node: str | None = None, attempt: int | None = None) -> str:
        """What `node` printed in attempt `attempt` (its latest by default); with no node,
        every node that ran, each line prefixed `[node] `."""
        record = self._read()
        status = record.run.status or RunStatus()
        if node is not None:
            (chunk,) = self._logs(record, status, [node], attempt)
            return chunk.text
        return "".join(_prefixed(c) for c in self._logs(record, status, _started(status), None))

    def _logs(
        self, record: RunRecord, status: RunStatus, nodes: list[str], attempt: int | None
    ) -> list[LogChunk]:
        """Each node's log in order; a reused node's from the Run it reused."""
        sources: dict[str, RunRecord] = {}
        for node in nodes:
            state = status.nodes.get(node)
            if state is None:
                known = did_you_mean(node, status.nodes)
                raise NotFound(f"run {self.name} has no node {node}{known}")
            if state.reused_from:
                earlier = self.backend.read_run(state.reused_from)
                if earlier is None:
                    raise NotFound(f"node {node} reused run {state.reused_from}, which is gone")
                sources[node] = earlier
            elif state.started_at is None:
                raise NotFound(f"node {node} of run {self.name} has not run ({state.phase.value})")
            else:
                sources[node] = record
        found: dict[str, LogChunk] = {}
        for source in {id(r): r for r in sources.values()}.values():
            wanted = [(n, attempt) for n in nodes if sources[n] is source]
            found |= {c.node: c for c in self.backend.logs(source, wanted)}
        return [found[node] for node in nodes]

    def follow_logs(self, node: str | None = None) -> Iterator[str]:
        """Lines (each ending in a newline) as the nodes print them, until the Run ends;
        `[node] ` before each when no node is named."""
        partial: dict[tuple[str, int], str] = {}
        for chunk in self.backend.follow(self.name, [node] if node else None):
            key = (chunk.node, chunk.attempt)
            text = partial.pop(key, "") + chunk.text
            whole, cut, rest = text.rpartition("\n")
            if rest:
                partial[key] = rest
            if cut:
                yield from _lines(LogChunk(chunk.node, chunk.attempt, whole + cut), node is None)
        for (name, attempt), rest in partial.items():
            yield from _lines(LogChunk(name, attempt, rest + "\n"), node is None)

    # Changes.

    def stop(self) -> None:
        """Stop its running nodes and start no more; it ends Cancelled."""
        self.backend.stop_run(self.name)

    def delete(self) -> None:
        self.backend.delete_run(self.name)

    def retry(self, name: str | None = None, **changes: Any) -> "RunHandle":
        """A new Run with this one's spec (and `changes`: `parameters=` merges into its
        bindings), resuming from it: the nodes whose fingerprints still match are
        reused, the rest run."""
        spec = self.get().spec
        parameters = dict(spec.parameters)
        for key, value in (changes.pop("parameters", None) or {}).items():
            parameters[key] = binding(value)
        updated = run_spec(spec.dataflow, parameters, {**changes, "resume_from": self.name}, spec)
        new_name = name or generated_name(spec.dataflow)
        return submit_run(self.backend, new_name, updated)


def _started(status: RunStatus) -> list[str]:
    return [n for n, s in status.nodes.items() if s.started_at is not None or s.reused_from]


def _lines(chunk: LogChunk, prefixed: bool) -> Iterator[str]:
    prefix = f"[{chunk.node}] " if prefixed else ""
    for line in chunk.text.splitlines(keepends=True):
        yield prefix + (line if line.endswith("\n") else line + "\n")


def _prefixed(chunk: LogChunk) -> str:
    return "".join(_lines(chunk, prefixed=True))


def run_spec(
    dataflow: str,
    parameters: Mapping[str, object],
    options: Mapping[str, Any],
    base: RunSpec | None = None,
) -> RunSpec:
    """A RunSpec from Python values: bindings from plain values or `dataset(...)`, env
    from a dict, resumeFrom from a handle, cache=True for `{enabled: true}`; option names
    in snake_case or as the YAML spells them."""
    fields: dict[str, Any] = base.model_dump(by_alias=True, exclude_none=True) if base else {}
    fields.update(
        {"dataflow": dataflow, "parameters": {k: binding(v) for k, v in parameters.items()}}
    )
    for key, value in options.items():
        if key == "env" and isinstance(value, Mapping):
            value = [{"name": k, "value": str(v)} for k, v in value.items()]
        elif key in ("resume_from", "resumeFrom") and isinstance(value, RunHandle):
            value = value.name
        elif key == "cache" and isinstance(value, bool):
            value = {"enabled": value}
        fields[_wire_name(key)] = value
    return RunSpec.model_validate(fields)


def _wire_name(key: str) -> str:
    field = RunSpec.model_fields.get(key)
    return field.alias if field is not None and field.alias else key


def submit_run(backend: Backend, name: str, spec: RunSpec) -> RunHandle:
    from headwater import api

    run = Run(metadata=api.ObjectMeta(name=name), spec=spec)
    backend.create_run(run)
    return RunHandle(backend, name)
