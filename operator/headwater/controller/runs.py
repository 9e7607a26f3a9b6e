"""Reconcile one Run: read it and the Jobs and Pods it owns from the cache, let the
engine decide, act, and write the whole status in one optimistic write.

Level-triggered: any event only queues the Run; what happens next is worked out from
what the cluster shows. Reads come from the watch-fed cache, so a reconcile costs API
requests only for what it changes: the Jobs it creates or deletes, one status write,
Events. A write that lost a race (409) re-reads the Run and tries again.
"""

import logging
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from headwater.api import NodePhase, Run, RunPhase, RunSpec, RunStatus, now
from headwater.controller import metrics
from headwater.controller.cache import ObjectCache
from headwater.controller.jobs import job_manifest
from headwater.controller.kube import Conflict, Kube, Manifest
from headwater.controller.naming import NODE_LABEL, job_name
from headwater.controller.observe import PodTrouble, observe_job, pod_trouble
from headwater.controller.results import Offers, entries_config_map
from headwater.controller.settings import OperatorSettings
from headwater.controller.snapshots import Invalid, NotReady, load_or_freeze
from headwater.controller.workqueue import WorkQueue
from headwater.engine import TERMINAL_PHASES, Decision, ObservedNode, before_start, step
from headwater.fingerprint import Fingerprint, Unknown, fingerprints
from headwater.graph import Graph, build_graph
from headwater.planning import PlanningError, build_task
from headwater.reuse import Earlier, plan
from headwater.snapshot import Snapshot
from headwater.status_budget import expand, fit
from headwater.suggest import Names

log = logging.getLogger(__name__)
PLURAL = "runs"
JOB_DEADLINE_MARGIN_SECONDS = 10
SNAPSHOTS_KEPT = 1024
"""Snapshots held in memory, by Run uid; they never change, so a reconcile reads its
ConfigMap once, not on every Job event."""
WARNING_RECHECK_SECONDS = 10.0


@dataclass
class Frozen:
    snapshot: Snapshot
    graph: Graph
    prints: dict[str, Fingerprint | Unknown] | None = None

    def fingerprint(self, run: Run, node: str) -> str | None:
        """A node's fingerprint digest, for its task; computed once per Run."""
        if self.prints is None:
            self.prints = fingerprints(self.snapshot, self.graph, run.spec.parameters, run.spec.env)
        found = self.prints.get(node)
        return found.digest if isinstance(found, Fingerprint) else None


@dataclass
class RunReconciler:
    kube: Kube
    cache: ObjectCache
    queue: WorkQueue
    settings: OperatorSettings
    frozen: OrderedDict[str, Frozen] = field(default_factory=OrderedDict)
    mount_warnings: dict[str, tuple[datetime, str | None]] = field(default_factory=dict)
    """Pod → when its Warning Events were last read, and the FailedMount message."""
    offers: Offers = field(init=False)
    unreadable: set[str] = field(default_factory=set)
    """Run uids whose status this version cannot read; said once, then left alone."""

    def __post_init__(self) -> None:
        self.offers = Offers(self.cache)

    def reconcile(self, namespace: str, name: str) -> None:
        """One look at the Run; safe to call any number of times."""
        with metrics.RECONCILE_SECONDS.time():
            try:
                self._reconcile(namespace, name)
            except Exception:
                metrics.RECONCILE_ERRORS.inc()
                raise

    def forget(self, body: Manifest) -> None:
        """The Run is gone: drop what is held for it."""
        metadata = body["metadata"]
        self.frozen.pop(metadata.get("uid") or "", None)
        self.queue.forget((PLURAL, metadata["namespace"], metadata["name"]))
        metrics.forget_run(metadata["namespace"], metadata["name"])

    def snapshot_deleted(self, config_map: Manifest) -> None:
        """A Run's snapshot ConfigMap went away: its Run (if it lives) looks again, and
        finds it lost instead of carrying on with a copy its Jobs can no longer mount."""
        metadata = config_map["metadata"]
        for owner in metadata.get("ownerReferences") or []:
            if owner.get("kind") == "Run":
                self.frozen.pop(owner.get("uid") or "", None)
                self.queue.add((PLURAL, metadata["namespace"], owner["name"]))

    def _reconcile(self, namespace: str, name: str) -> None:
        body = self.cache.get(PLURAL, namespace, name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return
        run = self._parse(body)
        if run is None:
            return
        status = run.status or RunStatus()
        if status.phase in TERMINAL_PHASES:
            self._expire(run)
            return
        try:
            self._make_way(run)
            frozen = self._snapshot(run)
        except NotReady as waiting:
            self._write(body, run, _waiting(run, waiting.reason, str(waiting)))
            return
        except Invalid as invalid:
            self._write(body, run, _failed(run, invalid.reason, str(invalid)))
            return
        self._step(body, run, frozen)

    def _parse(self, body: Manifest) -> Run | None:
        """The Run, or None after saying why it cannot be reconciled. A spec the models
        cannot read fails the Run (InvalidSpec); a status this version cannot read (a
        newer operator wrote it) is left alone, its Jobs untouched."""
        try:
            RunSpec.model_validate(body.get("spec"))
        except ValidationError as error:
            self._write(body, None, _invalid_spec(body, error))
            return None
        try:
            return Run.model_validate(body)
        except ValidationError as error:
            uid = body["metadata"].get("uid") or ""
            if uid not in self.unreadable:
                self.unreadable.add(uid)
                message = f"this operator cannot read the Run's status, left as it is: {error}"
                log.warning("Run %s/%s: %s", body["metadata"]["namespace"], uid, message)
                self.kube.event(body, "StatusUnreadable", message, warning=True)
            return None

    def _make_way(self, run: Run) -> None:
        """A Run made again under the name of a deleted one waits until the old one's
        Jobs and Pods are gone: both would write runs/<run>/ in the artifact store."""
        if run.status is not None and run.status.started_at is not None:
            return
        namespace, name = run.metadata.namespace or "", run.metadata.name
        for kind in ("jobs", "pods"):
            for item in self.cache.of_run(kind, namespace, name):
                if not _owned_by(item, run):
                    raise NotReady(
                        "PreviousRunCleanup",
                        [f"the {kind} of the previous Run {name} to go"],
                    )

    def _snapshot(self, run: Run) -> Frozen:
        uid = run.metadata.uid or ""
        if uid in self.frozen:
            self.frozen.move_to_end(uid)
            return self.frozen[uid]
        assert run.metadata.namespace is not None
        starting = run.status is None or run.status.started_at is None
        snapshot = load_or_freeze(
            run, self.kube, self.cache, self.settings, lambda frozen: self._plan(run, frozen)
        )
        if starting and self.settings.store.url is None:
            # Per Run start, not once per process: a claim deleted since is made again.
            self.kube.ensure_pvc(run.metadata.namespace)
        return self._hold(uid, snapshot)

    def _plan(self, run: Run, snapshot: Snapshot) -> Snapshot:
        """The snapshot with its reuse plan: from the Run resumeFrom names, and from the
        namespace's cache when the Run has it on."""
        namespace = run.metadata.namespace or ""
        graph = build_graph(snapshot.dataflow, snapshot.functions)
        prints = fingerprints(snapshot, graph, run.spec.parameters, run.spec.env)
        earlier = self._earlier(run) if run.spec.resume_from else None
        cache = run.spec.cache
        offers = self.offers.of(namespace) if cache is not None and cache.enabled else None
        max_age = cache.max_age_seconds if cache is not None else None
        decided = plan(graph, snapshot, prints, earlier, offers, now(), max_age)
        return snapshot.model_copy(update={"reuse": decided.reuse, "reasons": decided.reasons})

    def _earlier(self, run: Run) -> Earlier:
        """The finished Run that resumeFrom names; a clear condition when there is none,
        never a silent full rerun."""
        namespace, name = run.metadata.namespace or "", run.spec.resume_from or ""
        body = self.cache.get(PLURAL, namespace, name)
        if body is None:
            known = Names(b["metadata"]["name"] for b in self.cache.items(PLURAL, namespace))
            raise Invalid(
                "ResumeFromNotFound",
                f"resumeFrom: Run {name} does not exist{known.did_you_mean(name)}",
            )
        try:
            earlier = Run.model_validate(body)
        except ValidationError:
            raise Invalid(
                "ResumeFromUnreadable", f"resumeFrom: this operator cannot read Run {name}"
            ) from None
        status = earlier.status or RunStatus()
        if status.phase not in TERMINAL_PHASES:
            raise NotReady("ResumeFromRunning", [f"Run {name} (resumeFrom) to finish"])
        try:
            frozen = self._snapshot(earlier)
        except (NotReady, Invalid) as error:
            raise Invalid(
                "ResumeFromUnreadable", f"resumeFrom: Run {name}'s snapshot: {error}"
            ) from None
        nodes = expand(status, frozen.graph.node_ids)
        prints = fingerprints(
            frozen.snapshot, frozen.graph, earlier.spec.parameters, earlier.spec.env
        )
        root = self.settings.store.root(namespace)
        return Earlier(name, frozen.snapshot, frozen.graph, prints, nodes, root)

    def _hold(self, uid: str, snapshot: Snapshot) -> Frozen:
        frozen = Frozen(snapshot, build_graph(snapshot.dataflow, snapshot.functions))
        self.frozen[uid] = frozen
        while len(self.frozen) > SNAPSHOTS_KEPT:
            self.frozen.popitem(last=False)
        return frozen

    def _step(self, body: Manifest, run: Run, frozen: Frozen) -> None:
        namespace, name = run.metadata.namespace, run.metadata.name
        assert namespace is not None
        graph = frozen.graph
        moment = now()
        observed, stuck = self._observe(run, graph, moment)
        store_root = self.settings.store.root(namespace)
        rejected: dict[str, ObservedNode] = {}
        for node, trouble in stuck.items():
            # Gone past its grace: the node fails where the user looks, its Job goes.
            self._delete_job(namespace, job_name(name, node))
            rejected[node] = _failed_at_once(
                f"the node's Pod could not start within {self.settings.pod_start_timeout:.0f}s:"
                f" {trouble.describe()}",
                moment,
            )
        while True:
            decision = step(
                run,
                frozen.snapshot,
                {**observed, **rejected},
                moment,
                store_root=store_root,
                graph=graph,
            )
            for node in decision.stop:
                self._delete_job(namespace, job_name(name, node))
            refused = self._create_jobs(run, frozen, decision, store_root, moment)
            if not refused:
                break
            # A Job the API server refuses as invalid (say, bad resources in a Function)
            # fails its node at once, where the user looks; step again so that its
            # descendants are skipped and the run ends, rather than retrying for ever.
            # Each pass fails more nodes, which never start again, so this ends.
            rejected.update(refused)
        status = with_job_names(decision.status, name)
        if status.phase in TERMINAL_PHASES:
            self._offer_results(run, frozen, status)
        if not self._write(body, run, status, graph):
            return
        self._events(body, run.status or RunStatus(), status)
        key = (PLURAL, namespace, name)
        if decision.wake_at is not None:
            self.queue.add_after(key, (decision.wake_at - now()).total_seconds() + 0.5)
        if status.phase in TERMINAL_PHASES:
            self._expire(run.model_copy(update={"status": status}))

    def _offer_results(self, run: Run, frozen: Frozen, status: RunStatus) -> None:
        """A Run with the cache on offers what it computed to later Runs, before its
        final status is written (after it, no reconcile would come back to it)."""
        if run.spec.cache is None or not run.spec.cache.enabled:
            return
        namespace = run.metadata.namespace or ""
        root = self.settings.store.root(namespace)
        manifest = entries_config_map(run, frozen.snapshot, frozen.graph, status, root)
        if manifest is None:
            return
        try:
            self.kube.create_config_map(manifest)
        except ApiException as error:
            if error.status not in (400, 422):
                raise
            log.warning("Run %s/%s: results not cached: %s", namespace, run.metadata.name, error)

    def _delete_job(self, namespace: str, job: str) -> None:
        """Delete a Job and forget it at once: no watch event of it may ever come, if
        the watch began after the deletion."""
        self.kube.delete_job(namespace, job)
        self.cache.remove("jobs", namespace, job)

    def _create_jobs(
        self,
        run: Run,
        frozen: Frozen,
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
                    frozen.snapshot,
                    node,
                    decision.status,
                    run.spec.parameters,
                    store_root,
                    graph=frozen.graph,
                    fingerprint=frozen.fingerprint(run, node),
                )
            except PlanningError as error:
                unplanned[node] = _failed_at_once(f"the node cannot be planned: {error}", moment)
                continue
            function = frozen.graph.nodes[node].function
            manifests.append(
                job_manifest(run, node, function, task, frozen.snapshot, self.settings, deadline)
            )
        created, refused = self.kube.create_jobs(manifests)
        for job in created:
            self.cache.put("jobs", job)
        metrics.JOBS_CREATED.inc(len(created))
        return unplanned | {
            node: _failed_at_once(f"the API server rejected the node's Job: {refused[job]}", moment)
            for node in decision.start
            if (job := job_name(name, node)) in refused
        }

    def _observe(
        self, run: Run, graph: Graph, moment: datetime
    ) -> tuple[dict[str, ObservedNode], dict[str, PodTrouble]]:
        """Each node's state from the Jobs and Pods labelled with this run, and the
        nodes whose Pod has been unable to start for longer than the grace period."""
        namespace, name = run.metadata.namespace or "", run.metadata.name
        pods_by_node: defaultdict[str, list[Manifest]] = defaultdict(list)
        for pod in self.cache.of_run("pods", namespace, name):
            pods_by_node[pod["metadata"]["labels"].get(NODE_LABEL, "")].append(pod)
        recorded = expand(run.status or RunStatus(), graph.node_ids)
        observed: dict[str, ObservedNode] = {}
        stuck: dict[str, PodTrouble] = {}
        for job in self.cache.of_run("jobs", namespace, name):
            if not _owned_by(job, run):
                continue  # a Job of an earlier Run by the same name, on its way out
            node = job["metadata"]["labels"].get(NODE_LABEL, "")
            before = recorded.get(node)
            if job["metadata"].get("deletionTimestamp") and before and before.phase.finished:
                continue  # deleted by us after it failed to start, or stopped
            seen = observe_job(job, pods_by_node[node], run.spec.retries)
            trouble = self._trouble(run, pods_by_node[node], moment)
            if seen.phase == NodePhase.RUNNING and trouble is not None:
                seen = ObservedNode(
                    NodePhase.RUNNING,
                    attempts=seen.attempts,
                    started_at=seen.started_at,
                    job=seen.job,
                    message=f"waiting: {trouble.describe()}",
                )
                if trouble.fatal and self._past_grace(run, trouble, moment):
                    stuck[node] = trouble
            observed[node] = seen
        halting = run.spec.stop or _timed_out(run)
        for node, state in recorded.items():
            if state.phase == NodePhase.RUNNING and node not in observed and halting:
                # Its Job was deleted to stop it.
                observed[node] = ObservedNode(
                    NodePhase.CANCELLED,
                    attempts=state.attempts or 1,
                    started_at=state.started_at,
                    finished_at=moment,
                    message="stopped",
                )
        return observed, stuck

    def _trouble(self, run: Run, pods: list[Manifest], moment: datetime) -> PodTrouble | None:
        """What keeps the newest Pod from starting. A Pod waiting in ContainerCreating
        says nothing in its status; its FailedMount warning says which volume is missing,
        looked up every few seconds while it waits. A Pod that is merely slow to create
        (a large image to pull) is named as waiting but never failed for it."""
        newest = max(pods, key=lambda p: p["metadata"].get("creationTimestamp") or "", default=None)
        trouble = pod_trouble(newest) if newest else None
        if trouble is None or trouble.fatal:
            return trouble
        namespace = run.metadata.namespace or ""
        since = trouble.since or moment
        if (moment - since).total_seconds() < WARNING_RECHECK_SECONDS:
            # Creating a container takes a moment; only a Pod that waits longer is asked
            # about, so a wide fan-out costs no Event lists.
            self.queue.add_after((PLURAL, namespace, run.metadata.name), WARNING_RECHECK_SECONDS)
            return None
        warning = self._mount_warning(namespace, trouble.pod, moment)
        if warning is None:
            key = (PLURAL, namespace, run.metadata.name)
            self.queue.add_after(key, WARNING_RECHECK_SECONDS)
            return trouble
        return PodTrouble(trouble.pod, "FailedMount", warning, trouble.since, fatal=True)

    def _mount_warning(self, namespace: str, pod: str, moment: datetime) -> str | None:
        checked = self.mount_warnings.get(pod)
        if checked is not None and (moment - checked[0]).total_seconds() < WARNING_RECHECK_SECONDS:
            return checked[1]
        warnings = self.kube.warnings_about(namespace, "Pod", pod)
        mounts = [w for w in warnings if w.get("reason") == "FailedMount"]
        message = str(mounts[-1].get("message") or "") if mounts else None
        self.mount_warnings[pod] = (moment, message)
        return message

    def _past_grace(self, run: Run, trouble: PodTrouble, moment: datetime) -> bool:
        """True once the trouble has lasted the grace period; until then, look again
        when it runs out."""
        since = trouble.since or moment
        left = since + timedelta(seconds=self.settings.pod_start_timeout) - moment
        if left.total_seconds() <= 0:
            return True
        key = (PLURAL, run.metadata.namespace or "", run.metadata.name)
        self.queue.add_after(key, left.total_seconds() + 0.5)
        return False

    def _write(
        self, body: Manifest, run: Run | None, new: RunStatus, graph: Graph | None = None
    ) -> bool:
        """Write the status over the version read; False when it lost a race, in which
        case the Run is read again and queued."""
        old = run.status if run is not None else None
        stored = fit(new, graph.node_ids) if graph is not None else new
        wire = stored.to_wire()
        if body.get("status") == wire:
            return True
        metadata = body["metadata"]
        key = (PLURAL, metadata["namespace"], metadata["name"])
        try:
            written = self.kube.replace_status(PLURAL, body, wire)
        except Conflict:
            fresh = self.kube.get_run(metadata["namespace"], metadata["name"])
            if fresh is not None:
                self.cache.put(PLURAL, fresh)
            self.queue.add(key)
            return False
        if written is not None:
            self.cache.put(PLURAL, written)
        metrics.observe_run(metadata["namespace"], metadata["name"], old, new)
        return True

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

    def _expire(self, run: Run) -> None:
        """ttlSecondsAfterFinished: delete the Run (and so all it owns) when it is due,
        else look again then."""
        ttl = run.spec.ttl_seconds_after_finished
        finished = run.status.finished_at if run.status else None
        if ttl is None or finished is None:
            return
        namespace, name = run.metadata.namespace, run.metadata.name
        assert namespace is not None
        left = (finished + timedelta(seconds=ttl) - now()).total_seconds()
        if left <= 0:
            self.kube.delete_run(namespace, name)
            self.cache.remove(PLURAL, namespace, name)
        else:
            self.queue.add_after((PLURAL, namespace, name), left + 0.5)


def with_job_names(status: RunStatus, run: str) -> RunStatus:
    """Name each started node's Job in the status that starts it: a node's Job name is
    fixed by the run and node, so waiting for the Job's watch event to say it would
    cost a second status write per node."""
    unnamed = {
        node: state.model_copy(update={"job": job_name(run, node)})
        for node, state in status.nodes.items()
        if state.phase == NodePhase.RUNNING and state.job is None
    }
    if not unnamed:
        return status
    return status.model_copy(update={"nodes": {**status.nodes, **unnamed}})


def _owned_by(item: Manifest, run: Run) -> bool:
    owners = item["metadata"].get("ownerReferences") or []
    return any(o.get("uid") == run.metadata.uid for o in owners)


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


def _invalid_spec(body: Manifest, error: ValidationError) -> RunStatus:
    """A Run the models cannot read: Failed with reason InvalidSpec, never a crash loop."""
    generation = body["metadata"].get("generation")
    try:
        earlier: RunStatus | None = RunStatus.model_validate(body.get("status") or {})
    except ValidationError:
        earlier = None
    return before_start(earlier, generation, "InvalidSpec", str(error), now(), failed=True)


def _waiting(run: Run, reason: str, message: str) -> RunStatus:
    return before_start(run.status, run.metadata.generation, reason, message, now(), failed=False)


def _failed(run: Run, reason: str, message: str) -> RunStatus:
    return before_start(run.status, run.metadata.generation, reason, message, now(), failed=True)
