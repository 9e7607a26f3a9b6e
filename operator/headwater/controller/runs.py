"""Reconcile one Run: read it and the Jobs it owns, let the engine decide, act, and
write the status in one patch. Level-triggered: any event just says when to look."""

import logging
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import ValidationError

from headwater.api import (
    NodePhase,
    Run,
    RunPhase,
    RunStatus,
    now,
    set_condition,
)
from headwater.controller import metrics
from headwater.controller.jobs import job_manifest, observe_job
from headwater.controller.kube import Kube, Manifest
from headwater.controller.naming import NODE_LABEL, job_name
from headwater.controller.settings import OperatorSettings
from headwater.controller.snapshots import Invalid, NotReady, load_or_freeze
from headwater.engine import TERMINAL_PHASES, Decision, ObservedNode, step
from headwater.graph import Graph, build_graph
from headwater.planning import PlanningError, build_task
from headwater.snapshot import Snapshot

log = logging.getLogger(__name__)
PLURAL = "runs"
JOB_DEADLINE_MARGIN_SECONDS = 10


@dataclass
class RunReconciler:
    kube: Kube
    settings: OperatorSettings
    locks: defaultdict[tuple[str, str], threading.Lock] = field(
        default_factory=lambda: defaultdict(threading.Lock)
    )
    wakeups: dict[tuple[str, str], tuple[datetime, threading.Timer]] = field(default_factory=dict)
    claimed: set[str] = field(default_factory=set)
    """Namespaces whose artifact-store PVC this process has made sure of."""

    def reconcile(self, namespace: str, name: str) -> None:
        """One look at the Run; safe to call any number of times, from any thread."""
        with self.locks[(namespace, name)], metrics.RECONCILE_SECONDS.time():
            try:
                self._reconcile(namespace, name)
            except Exception:
                metrics.RECONCILE_ERRORS.inc()
                raise

    def forget(self, namespace: str, name: str) -> None:
        with self.locks[(namespace, name)]:
            pending = self.wakeups.pop((namespace, name), None)
            if pending is not None:
                pending[1].cancel()
            metrics.forget_run(namespace, name)
        self.locks.pop((namespace, name), None)

    def _reconcile(self, namespace: str, name: str) -> None:
        body = self.kube.get(PLURAL, namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return
        try:
            run = Run.model_validate(body)
        except ValidationError as error:
            self._write(body, None, _invalid_spec(body, str(error)))
            return
        status = run.status or RunStatus()
        if status.phase in TERMINAL_PHASES:
            self._expire(run)
            return
        try:
            snapshot = load_or_freeze(run, self.kube, self.settings)
        except NotReady as waiting:
            self._write(body, run.status, _waiting(run, waiting.reason, str(waiting)))
            return
        except Invalid as invalid:
            self._write(body, run.status, _failed(run, invalid.reason, str(invalid)))
            return
        if self.settings.store.url is None and namespace not in self.claimed:
            self.kube.ensure_pvc(namespace)
            self.claimed.add(namespace)
        self._step(body, run, snapshot)

    def _step(self, body: Manifest, run: Run, snapshot: Snapshot) -> None:
        namespace, name = run.metadata.namespace, run.metadata.name
        assert namespace is not None
        graph = build_graph(snapshot.dataflow, snapshot.functions)
        observed = self._observe(run)
        previous = self._previous(run)
        store_root = self.settings.store.root(namespace)
        moment = now()
        rejected: dict[str, ObservedNode] = {}
        while True:
            decision = step(
                run,
                snapshot,
                {**observed, **rejected},
                moment,
                previous,
                store_root=store_root,
                graph=graph,
            )
            for node in decision.stop:
                self.kube.delete_job(namespace, job_name(name, node))
            refused = self._create_jobs(run, snapshot, graph, decision, store_root, moment)
            if not refused:
                break
            # A Job the API server refuses as invalid (say, bad resources in a Function)
            # fails its node at once, where the user looks; step again so that its
            # descendants are skipped and the run ends, rather than retrying for ever.
            # Each pass fails more nodes, which never start again, so this ends.
            rejected.update(refused)
        self._write(body, run.status, decision.status)
        self._events(body, run.status or RunStatus(), decision.status)
        if decision.wake_at is not None:
            self._wake_at(namespace, name, decision.wake_at)
        if decision.status.phase in TERMINAL_PHASES:
            self._expire(run.model_copy(update={"status": decision.status}))

    def _create_jobs(
        self,
        run: Run,
        snapshot: Snapshot,
        graph: Graph,
        decision: Decision,
        store_root: str,
        moment: datetime,
    ) -> dict[str, ObservedNode]:
        """Create the Jobs of the nodes to start; the nodes whose Job the API server
        rejected, as failed."""
        name = run.metadata.name
        deadline = _seconds_left(run, decision.status, moment)
        manifests = []
        unplanned: dict[str, ObservedNode] = {}
        for node in decision.start:
            try:
                task = build_task(
                    name,
                    snapshot,
                    node,
                    decision.status,
                    run.spec.parameters,
                    store_root,
                    graph=graph,
                )
            except PlanningError as error:
                unplanned[node] = _failed_at_once(f"the node cannot be planned: {error}", moment)
                continue
            function = graph.nodes[node].function
            manifests.append(
                job_manifest(run, node, function, task, snapshot, self.settings, deadline)
            )
        created, refused = self.kube.create_jobs(manifests)
        metrics.JOBS_CREATED.inc(created)
        return unplanned | {
            node: _failed_at_once(f"the API server rejected the node's Job: {refused[job]}", moment)
            for node in decision.start
            if (job := job_name(name, node)) in refused
        }

    def _observe(self, run: Run) -> dict[str, ObservedNode]:
        """Each node's state from the Jobs and Pods labelled with this run."""
        namespace, name = run.metadata.namespace, run.metadata.name
        assert namespace is not None
        pods_by_node: defaultdict[str, list[Manifest]] = defaultdict(list)
        for pod in self.kube.pods_of(namespace, name):
            pods_by_node[pod["metadata"]["labels"].get(NODE_LABEL, "")].append(pod)
        observed: dict[str, ObservedNode] = {}
        for job in self.kube.jobs_of(namespace, name):
            owners = job["metadata"].get("ownerReferences") or []
            if not any(o.get("uid") == run.metadata.uid for o in owners):
                continue  # a Job of an earlier Run by the same name, on its way out
            node = job["metadata"]["labels"].get(NODE_LABEL, "")
            observed[node] = observe_job(job, pods_by_node[node])
        halting = run.spec.stop or _timed_out(run)
        recorded = run.status.nodes if run.status else {}
        for node, state in recorded.items():
            if state.phase == NodePhase.RUNNING and node not in observed and halting:
                # Its Job was deleted to stop it.
                observed[node] = ObservedNode(
                    NodePhase.CANCELLED,
                    attempts=state.attempts or 1,
                    started_at=state.started_at,
                    finished_at=now(),
                    message="stopped",
                )
        return observed

    def _previous(self, run: Run) -> RunStatus | None:
        if not run.spec.resume_from:
            return None
        assert run.metadata.namespace is not None
        body = self.kube.get(PLURAL, run.metadata.namespace, run.spec.resume_from)
        if body is None or not body.get("status"):
            return None
        try:
            return RunStatus.model_validate(body["status"])
        except ValidationError:
            log.warning("Run %s has a status this version cannot read; nothing reused", body)
            return None

    def _write(self, body: Manifest, old: RunStatus | None, new: RunStatus) -> None:
        wire = new.to_wire()
        if body.get("status") == wire:
            return
        metadata = body["metadata"]
        self.kube.replace_status(PLURAL, metadata["namespace"], metadata["name"], wire)
        metrics.observe_run(metadata["namespace"], metadata["name"], old, new)

    def _events(self, body: Manifest, old: RunStatus, new: RunStatus) -> None:
        for node, state in new.nodes.items():
            before = old.nodes.get(node)
            if before is not None and before.phase == state.phase:
                continue
            if state.phase == NodePhase.RUNNING:
                self.kube.event(body, "NodeStarted", f"node {node} started")
            elif state.phase == NodePhase.SUCCEEDED and not state.reused_from:
                self.kube.event(body, "NodeSucceeded", f"node {node} succeeded")
            elif state.phase == NodePhase.FAILED:
                message = f"node {node} failed: {state.message or ''}".rstrip(": ")
                self.kube.event(body, "NodeFailed", message, warning=True)
        if new.phase != old.phase and new.phase in TERMINAL_PHASES:
            condition = next((c for c in new.conditions if c.type == "Succeeded"), None)
            message = condition.message if condition else new.phase.value
            self.kube.event(
                body, f"Run{new.phase.value}", message, warning=new.phase != RunPhase.SUCCEEDED
            )

    def _wake_at(self, namespace: str, name: str, moment: datetime) -> None:
        """Reconcile again at `moment` (a timeout, a TTL) even if nothing happens before;
        a sooner wake-up replaces a later one."""
        key = (namespace, name)
        pending = self.wakeups.get(key)
        if pending is not None:
            if pending[0] <= moment:
                return
            pending[1].cancel()
        delay = max(0.0, (moment - now()).total_seconds()) + 0.5
        timer = threading.Timer(delay, self._woken, key)
        timer.daemon = True
        self.wakeups[key] = (moment, timer)
        timer.start()

    def _woken(self, namespace: str, name: str) -> None:
        self.wakeups.pop((namespace, name), None)
        try:
            self.reconcile(namespace, name)
        except Exception:
            log.exception("reconcile of Run %s/%s failed", namespace, name)

    def _expire(self, run: Run) -> None:
        """ttlSecondsAfterFinished: delete the Run (and so all it owns) when it is due."""
        ttl = run.spec.ttl_seconds_after_finished
        finished = run.status.finished_at if run.status else None
        if ttl is None or finished is None:
            return
        namespace, name = run.metadata.namespace, run.metadata.name
        assert namespace is not None
        due = finished + timedelta(seconds=ttl)
        if now() >= due:
            self.kube.delete_custom(PLURAL, namespace, name)
            self.forget(namespace, name)
        else:
            self._wake_at(namespace, name, due)


def _failed_at_once(message: str, moment: datetime) -> ObservedNode:
    return ObservedNode(NodePhase.FAILED, message=message, started_at=moment, finished_at=moment)


def _seconds_left(run: Run, status: RunStatus, moment: datetime) -> int | None:
    """A node Job's deadline: what is left of the run's timeout plus a margin, so that the
    operator's own timeout (which stops the run with reason Timeout) comes first and the
    Job's deadline is only the backstop while no operator runs."""
    if not run.spec.timeout_seconds or status.started_at is None:
        return None
    left = status.started_at + timedelta(seconds=run.spec.timeout_seconds) - moment
    return max(1, int(left.total_seconds())) + JOB_DEADLINE_MARGIN_SECONDS


def _timed_out(run: Run) -> bool:
    started = run.status.started_at if run.status else None
    if not run.spec.timeout_seconds or started is None:
        return False
    return now() >= started + timedelta(seconds=run.spec.timeout_seconds)


def _generation(body: Manifest) -> int | None:
    return body["metadata"].get("generation")


def _invalid_spec(body: Manifest, message: str) -> RunStatus:
    """A Run the models cannot read: Failed with reason InvalidSpec, never a crash loop."""
    generation = _generation(body)
    try:
        earlier = RunStatus.model_validate(body.get("status") or {}).conditions
    except ValidationError:
        earlier = []
    conditions = set_condition(
        earlier, "Succeeded", False, "InvalidSpec", message[:4000], generation
    )
    return RunStatus(phase=RunPhase.FAILED, conditions=conditions, observed_generation=generation)


def _waiting(run: Run, reason: str, message: str) -> RunStatus:
    status = run.status or RunStatus()
    generation = run.metadata.generation
    conditions = set_condition(
        status.conditions, "Succeeded", "Unknown", reason, message, generation
    )
    return status.model_copy(
        update={
            "phase": RunPhase.PENDING,
            "conditions": conditions,
            "observed_generation": generation,
        }
    )


def _failed(run: Run, reason: str, message: str) -> RunStatus:
    status = run.status or RunStatus()
    generation = run.metadata.generation
    conditions = set_condition(status.conditions, "Succeeded", False, reason, message, generation)
    moment = now()
    return status.model_copy(
        update={
            "phase": RunPhase.FAILED,
            "conditions": conditions,
            "finished_at": moment,
            "observed_generation": generation,
        }
    )
