"""kopf handlers: thin. Each event updates the cache and queues the object to look at;
worker threads do the rest (see `workqueue`).

Only event handlers are used, no create/update handlers, so kopf keeps no state on our
objects (no annotations, no finalizers), and they are async and instant, so a shutdown
cancels nothing half done. Everything is derived from what the cluster shows; a
periodic resync from the cache catches what events missed.
"""

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import kopf
from pydantic import ValidationError

from headwater.api import GROUP, VERSION, Dataflow, RunPhase, RunStatus
from headwater.artifacts.published import CONFIG_MAP
from headwater.controller import metrics, results
from headwater.controller.cache import ObjectCache
from headwater.controller.catalog import Catalog
from headwater.controller.kube import Kube, Manifest, Permission
from headwater.controller.naming import COMPONENT_LABEL, RUN_LABEL
from headwater.controller.runs import RunReconciler
from headwater.controller.settings import OperatorSettings, store_info
from headwater.controller.workqueue import Key, Workers, WorkQueue
from headwater.engine import TERMINAL_PHASES

log = logging.getLogger(__name__)
CATALOG = ("datasets", "functions", "dataflows")
SHUTDOWN_SECONDS = 3.0
RELIST_SECONDS = 300.0
"""How often the cache is listed afresh, the net under what no watch event tells."""

WATCHED = (
    (GROUP, "runs"),
    *((GROUP, plural) for plural in CATALOG),
    ("batch", "jobs"),
    ("", "pods"),
    ("", "configmaps"),
)
"""(API group, resource) of every kopf watch; each needs list and watch. Jobs, Pods and
ConfigMaps are watched with a label selector on the server: only what the operator
made."""
OWN_CONFIG_MAPS = f"{RUN_LABEL},app.kubernetes.io/component in (snapshot,cache)"
"""Snapshots (watched to notice one deleted) and cache entries (held in the cache)."""
WATCH_PERMISSIONS = {
    Permission(group, resource, verb) for group, resource in WATCHED for verb in ("list", "watch")
}


@dataclass
class Services:
    kube: Kube
    cache: ObjectCache
    queue: WorkQueue
    settings: OperatorSettings
    runs: RunReconciler
    catalog: Catalog

    def handle(self, key: Key) -> None:
        """Reconcile one queued object."""
        kind, namespace, name = key
        if kind == "runs":
            self.runs.reconcile(namespace, name)
        else:
            self.catalog.check(kind, namespace, name)

    def prime(self) -> None:
        """Fill the cache with one LIST of each kind before any reconcile, so that no Run
        is judged on Jobs not yet seen; then queue everything once."""
        self.relist()
        for kind in ("runs", *CATALOG):
            for body in self.cache.items(kind):
                self.queue.add(_key(kind, body))

    def relist(self) -> None:
        """LIST every kind into the cache: what the watches cannot tell, such as an
        object deleted before a watch began."""
        namespaces: list[str | None] = list(self.settings.namespaces) or [None]
        for kind in ("runs", *CATALOG, "jobs", "pods", results.KIND):
            for namespace in namespaces:
                if kind == results.KIND:
                    selector = f"{COMPONENT_LABEL}={results.COMPONENT}"
                    found, listed_at = self.kube.list_run_objects(kind, namespace, selector)
                elif kind in ("jobs", "pods"):
                    found, listed_at = self.kube.list_run_objects(kind, namespace)
                else:
                    found, listed_at = self.kube.list_objects(kind, namespace)
                self.cache.replace(kind, found, listed_at, namespace)

    def publish_store(self) -> None:
        """Say where namespaces' stores are, for the CLI and the Python API; a failure
        (no such namespace when run by hand) leaves clients to be told, not the run."""
        try:
            info = store_info(self.settings)
            self.kube.publish(self.settings.operator_namespace, CONFIG_MAP, info.to_data())
        except Exception:
            log.warning(
                "could not publish %s in namespace %s; clients will not find the store",
                CONFIG_MAP,
                self.settings.operator_namespace,
                exc_info=True,
            )

    def resync(self) -> None:
        """Queue again every Run in flight and every catalog object due for a check,
        from the cache: the net under missed events, costing no API request."""
        for body in self.cache.items("runs"):
            if not _finished(body):
                self.queue.add(_key("runs", body))
        for kind in CATALOG:
            for body in self.cache.items(kind):
                if self.catalog.due(kind, body):
                    self.queue.add(_key(kind, body))
        metrics.RESYNCS.inc()

    def dependents_changed(self, plural: str, namespace: str, name: str) -> None:
        """A Function change re-validates the Dataflows that use it; any catalog change
        may unblock Runs of the namespace waiting for it."""
        if plural == "functions":
            for body in self.cache.items("dataflows", namespace):
                if _uses(body, name):
                    self.queue.add(_key("dataflows", body))
        for body in self.cache.items("runs", namespace):
            if _pending(body):
                self.queue.add(_key("runs", body))


def _key(kind: str, body: Manifest) -> Key:
    return (kind, body["metadata"].get("namespace") or "", body["metadata"]["name"])


def _finished(run: Manifest) -> bool:
    phase = (run.get("status") or {}).get("phase")
    return phase in {p.value for p in TERMINAL_PHASES}


def _pending(run: Manifest) -> bool:
    """A Run not started yet, perhaps waiting for what just changed."""
    try:
        status = RunStatus.model_validate(run.get("status") or {})
    except ValidationError:
        return False
    return status.phase == RunPhase.PENDING


def _uses(dataflow: Manifest, function: str) -> bool:
    try:
        spec = Dataflow.model_validate(dataflow).spec
    except ValidationError:
        return True  # its check will say what is wrong
    return any(node.function == function for node in spec.nodes)


def _telling(kind: str, body: Manifest) -> object:
    """What a reconcile reads of a Job or Pod: a change elsewhere (a Pod's IP, a Ready
    condition, a Job's ready count) is no reason to reconcile its Run."""
    status = body.get("status") or {}
    gone = bool(body["metadata"].get("deletionTimestamp"))
    if kind == "jobs":
        conditions = sorted(
            (c.get("type"), c.get("status")) for c in status.get("conditions") or []
        )
        counts = (status.get("active"), status.get("succeeded"), status.get("failed"))
        return (gone, status.get("startTime"), counts, conditions)
    scheduled = [
        (c.get("status"), c.get("reason"))
        for c in status.get("conditions") or []
        if c.get("type") == "PodScheduled"
    ]
    containers = []
    for container in status.get("containerStatuses") or []:
        state = container.get("state") or {}
        waiting, terminated = state.get("waiting") or {}, state.get("terminated") or {}
        containers.append((waiting.get("reason"), terminated.get("exitCode"), "running" in state))
    return (gone, status.get("phase"), scheduled, containers)


def _changed_spec(body: Manifest) -> bool:
    """False for our own status writes: the spec's generation is already observed."""
    status = body.get("status")
    observed = status.get("observedGeneration") if isinstance(status, dict) else None
    return observed != body["metadata"].get("generation")


def register(
    registry: kopf.OperatorRegistry, services: Services, ready: threading.Event | None = None
) -> Workers:
    """Register the handlers; the workers they start, for the health check. `ready` is
    set once the cache is filled and the workers run."""
    cache, queue = services.cache, services.queue
    workers = Workers(queue, services.handle, count=services.settings.workers)
    stop = threading.Event()

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        # The same kubeconfig or in-cluster credentials the kubernetes client uses.
        return kopf.login_via_client(**kwargs)

    @kopf.on.startup(registry=registry)
    def start(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.posting.enabled = False  # our Events are our own, on our objects
        settings.scanning.disabled = True  # the CRDs are known; no cluster-wide CRD watch
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330
        settings.watching.label_selectors["batch", "jobs"] = RUN_LABEL
        settings.watching.label_selectors["", "pods"] = RUN_LABEL
        settings.watching.label_selectors["", "configmaps"] = OWN_CONFIG_MAPS
        services.prime()
        services.publish_store()
        workers.start()
        if ready is not None:
            ready.set()

        def resync_loop() -> None:
            relisted = time.monotonic()
            while not stop.wait(services.settings.resync_seconds):
                try:
                    if time.monotonic() - relisted >= RELIST_SECONDS:
                        services.relist()
                        relisted = time.monotonic()
                    services.resync()
                except Exception:
                    log.exception("resync failed")

        threading.Thread(target=resync_loop, name="headwater-resync", daemon=True).start()

    @kopf.on.cleanup(registry=registry)
    def cleanup(**_: Any) -> None:
        stop.set()
        workers.stop(timeout=SHUTDOWN_SECONDS)

    @kopf.on.event(GROUP, VERSION, "runs", registry=registry, id="runs")
    async def run_event(event: dict[str, Any], type: str | None, **_: Any) -> None:
        body = event["object"]
        if type == "DELETED":
            metadata = body["metadata"]
            cache.remove("runs", metadata["namespace"], metadata["name"])
            services.runs.forget(body)
        elif cache.put("runs", body):
            queue.add(_key("runs", body))

    @kopf.on.event("", "v1", "configmaps", labels={RUN_LABEL: kopf.PRESENT}, registry=registry)
    async def config_map_event(event: dict[str, Any], type: str | None, **_: Any) -> None:
        body = event["object"]
        metadata = body["metadata"]
        cached = (metadata.get("labels") or {}).get(COMPONENT_LABEL) == results.COMPONENT
        if type == "DELETED":
            if cached:
                cache.remove(results.KIND, metadata["namespace"], metadata["name"])
            else:
                services.runs.snapshot_deleted(body)
        elif cached:
            cache.put(results.KIND, body)

    for kind in ("jobs", "pods"):
        _register_run_scoped(registry, services, kind)
    for plural in CATALOG:
        _register_catalog(registry, services, plural)

    return workers


def _register_run_scoped(registry: kopf.OperatorRegistry, services: Services, kind: str) -> None:
    group, version = ("batch", "v1") if kind == "jobs" else ("", "v1")

    @kopf.on.event(
        group, version, kind, labels={RUN_LABEL: kopf.PRESENT}, registry=registry, id=kind
    )
    async def changed(event: dict[str, Any], type: str | None, **_: Any) -> None:
        body = event["object"]
        metadata = body["metadata"]
        namespace = metadata.get("namespace") or ""
        if type == "DELETED":
            services.cache.remove(kind, namespace, metadata["name"])
        else:
            before = services.cache.get(kind, namespace, metadata["name"])
            taken = services.cache.put(kind, body)
            same = before is not None and _telling(kind, before) == _telling(kind, body)
            if not taken or same:
                return  # nothing the Run's reconcile reads has changed
        run = (metadata.get("labels") or {}).get(RUN_LABEL)
        if run:
            services.queue.add(("runs", namespace, run))


def _register_catalog(registry: kopf.OperatorRegistry, services: Services, plural: str) -> None:
    @kopf.on.event(GROUP, VERSION, plural, registry=registry, id=f"{plural}-changed")
    async def changed(event: dict[str, Any], type: str | None, **_: Any) -> None:
        body = event["object"]
        metadata = body["metadata"]
        namespace, name = metadata.get("namespace") or "", metadata["name"]
        if type == "DELETED":
            services.cache.remove(plural, namespace, name)
            services.catalog.forget(plural, body)
        else:
            if not services.cache.put(plural, body) or not _changed_spec(body):
                return  # our own status write, or nothing new; the resync re-checks
            services.queue.add((plural, namespace, name))
        services.dependents_changed(plural, namespace, name)
