"""Drive one Run to the end on this machine: the engine decides, the process pool runs."""

import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from headwater.api import EnvVar, FunctionSpec, Run, RunStatus, now
from headwater.engine import step
from headwater.fingerprint import Fingerprint, Unknown, fingerprints
from headwater.graph import Graph, build_graph
from headwater.local.node_log import LOG_FILE
from headwater.local.processes import ProcessPool
from headwater.local.reuse import LocalCache
from headwater.planning import build_task
from headwater.snapshot import Snapshot

POLL_SECONDS = 0.5
STATUS_INTERVAL_SECONDS = 0.5
"""status.json is rewritten at most this often while a run goes, and always at its end: a
1,000-node status takes milliseconds to write, and a run steps hundreds of times a second."""


@dataclass(frozen=True)
class Workspace:
    """Where a run keeps its files: <workdir>/runs/<run>/ holds status.json and a folder
    per node with its task, log, result and outputs."""

    workdir: Path

    @property
    def store_root(self) -> str:
        return str(self.workdir.resolve())

    def run_dir(self, run: str) -> Path:
        return self.workdir / "runs" / run

    def node_dir(self, run: str, node: str) -> Path:
        return self.run_dir(run) / node

    def status_file(self, run: str) -> Path:
        return self.run_dir(run) / "status.json"

    def read_status(self, run: str) -> RunStatus | None:
        path = self.status_file(run)
        if not path.exists():
            return None
        return RunStatus.model_validate_json(path.read_text())

    def write_json(self, run: str, name: str, document: object) -> None:
        (self.run_dir(run) / name).write_text(json.dumps(document, indent=2) + "\n")

    def write_status(self, run: str, status: RunStatus) -> None:
        path = self.status_file(run)
        temporary = path.with_suffix(".tmp")
        # pydantic's encoder: json.dumps with an indent is pure Python, 3x slower.
        wire = status.model_dump_json(by_alias=True, exclude_none=True, indent=2)
        temporary.write_text(wire + "\n")
        temporary.replace(path)


def node_environment(run: Run, node: str, function: FunctionSpec) -> dict[str, str]:
    """The parent's environment, ours, the Function's env, then the Run's — later ones
    win, in the same order as a node's Job. Only literal values apply here, since
    valueFrom needs a cluster."""
    env = {**os.environ, "HEADWATER_RUN": run.metadata.name, "HEADWATER_NODE": node}
    variables: list[EnvVar] = [*function.env, *run.spec.env]
    env.update({v.name: v.value for v in variables if v.value is not None})
    return env


def execute(
    run: Run,
    snapshot: Snapshot,
    workspace: Workspace,
    on_status: Callable[[RunStatus], None] = lambda _: None,
) -> RunStatus:
    """Run to a terminal phase; Ctrl-C stops the running nodes and ends Cancelled."""
    name = run.metadata.name
    workspace.run_dir(name).mkdir(parents=True, exist_ok=True)
    # What a later run needs to resume from this one: what it ran, and with what.
    workspace.write_json(name, "snapshot.json", snapshot.to_wire())
    workspace.write_json(name, "run.json", run.model_copy(update={"status": None}).to_wire())
    pool = ProcessPool()
    graph = build_graph(snapshot.dataflow, snapshot.functions)
    prints = fingerprints(snapshot, graph, run.spec.parameters, run.spec.env)
    run = run.model_copy(update={"status": None})
    written_at = -STATUS_INTERVAL_SECONDS
    try:
        while True:
            try:
                observed = pool.observe()
                decision = step(run, snapshot, observed, now(), graph=graph)
                run = run.model_copy(update={"status": decision.status})
                pool.settle(decision.status, observed)
                for node in decision.stop:
                    pool.stop(node)
                for node in decision.start:
                    _start(pool, run, snapshot, graph, workspace, node, prints)
                done = decision.status.finished_at is not None and not pool.running()
                if done or time.monotonic() - written_at >= STATUS_INTERVAL_SECONDS:
                    workspace.write_status(name, decision.status)
                    written_at = time.monotonic()
                on_status(decision.status)
                if done:
                    if run.spec.cache is not None and run.spec.cache.enabled:
                        LocalCache(workspace.workdir).record(
                            run, snapshot, decision.status, workspace.store_root
                        )
                    return decision.status
                # The engine starts every node it can in one step, so the next step has
                # news only once an attempt ends (or the timeout comes).
                pool.wait_for_change(_until(decision.wake_at))
            except KeyboardInterrupt:
                run = run.model_copy(update={"spec": run.spec.model_copy(update={"stop": True})})
    finally:
        pool.close()


def _until(wake_at: datetime | None) -> float:
    """Seconds to wait for an exit: up to the timeout deadline, and never long, so that a
    missed wake-up costs little."""
    if wake_at is None:
        return POLL_SECONDS
    return min(max((wake_at - now()).total_seconds(), 0.0), POLL_SECONDS)


def _start(
    pool: ProcessPool,
    run: Run,
    snapshot: Snapshot,
    graph: Graph,
    workspace: Workspace,
    node: str,
    prints: Mapping[str, Fingerprint | Unknown],
) -> None:
    assert run.status is not None
    folder = workspace.node_dir(run.metadata.name, node)
    folder.mkdir(parents=True, exist_ok=True)
    result_file = folder / "result.json"
    task = build_task(
        run.metadata.name,
        snapshot,
        node,
        run.status,
        run.spec.parameters,
        workspace.store_root,
        result_path=str(result_file),
        graph=graph,
        fingerprint=found.digest if isinstance(found := prints[node], Fingerprint) else None,
        # node.log keeps every attempt's output already; a copy in the store would cost
        # each node a third more CPU (README, "Logs").
        attempt_logs=False,
    )
    task_file = folder / "task.json"
    task_file.write_text(json.dumps(task.to_wire(), indent=2))
    pool.submit(
        node,
        task_file,
        node_environment(run, node, snapshot.functions[graph.nodes[node].function]),
        log_file=folder / LOG_FILE,
        result_file=result_file,
        max_retries=run.spec.retries,
    )
