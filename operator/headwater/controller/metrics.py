"""Prometheus metrics of the operator, served on its metrics port."""

import threading

from prometheus_client import Counter, Gauge, Histogram

from headwater.api import NodePhase, RunPhase, RunStatus
from headwater.engine import TERMINAL_PHASES

DURATION_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600)

RUNS = Gauge("headwater_runs", "Runs by phase, as last seen", ["phase"])
RUNS_IN_FLIGHT = Gauge("headwater_runs_in_flight", "Runs started and not yet finished")
RUNS_FINISHED = Counter("headwater_runs_finished_total", "Runs that ended, by phase", ["phase"])
RUN_SECONDS = Histogram(
    "headwater_run_duration_seconds", "Run wall time, start to end", buckets=DURATION_BUCKETS
)
NODE_SECONDS = Histogram(
    "headwater_node_duration_seconds",
    "Node wall time, Job start to end, by outcome",
    ["phase"],
    buckets=DURATION_BUCKETS,
)
JOBS_CREATED = Counter("headwater_jobs_created_total", "Jobs the operator created")
RECONCILE_SECONDS = Histogram("headwater_reconcile_duration_seconds", "Time of one Run reconcile")
RECONCILE_ERRORS = Counter("headwater_reconcile_errors_total", "Run reconciles that raised")
RESYNCS = Counter("headwater_resyncs_total", "Passes that queued every object again")

_phases: dict[tuple[str, str], RunPhase] = {}
_phases_lock = threading.Lock()  # reconciles of different Runs run in different threads


def observe_run(namespace: str, name: str, old: RunStatus | None, new: RunStatus) -> None:
    """Update the gauges and histograms from one status change of a Run."""
    with _phases_lock:
        _phases[(namespace, name)] = new.phase
        _refresh()
    old_nodes = old.nodes if old else {}
    for node, state in new.nodes.items():
        before = old_nodes.get(node)
        newly_finished = state.phase in (NodePhase.SUCCEEDED, NodePhase.FAILED) and (
            before is None or before.phase != state.phase
        )
        timed = state.started_at and state.finished_at and not state.reused_from
        if newly_finished and timed:
            seconds = (state.finished_at - state.started_at).total_seconds()
            NODE_SECONDS.labels(state.phase.value).observe(seconds)
    was_finished = old is not None and old.phase in TERMINAL_PHASES
    if new.phase in TERMINAL_PHASES and not was_finished:
        RUNS_FINISHED.labels(new.phase.value).inc()
        if new.started_at and new.finished_at:
            RUN_SECONDS.observe((new.finished_at - new.started_at).total_seconds())


def forget_run(namespace: str, name: str) -> None:
    with _phases_lock:
        _phases.pop((namespace, name), None)
        _refresh()


def _refresh() -> None:
    for phase in RunPhase:
        RUNS.labels(phase.value).set(sum(1 for p in _phases.values() if p == phase))
    RUNS_IN_FLIGHT.set(sum(1 for p in _phases.values() if p == RunPhase.RUNNING))
