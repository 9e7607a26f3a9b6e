"""kopf handlers: thin. Each says which object to look at; the services do the rest.

Only event handlers are used, no create/update handlers, so kopf keeps no state on our
objects (no annotations, no finalizers): everything is derived from what the cluster
shows, and a periodic resync of our own catches what events missed.
"""

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import kopf
from pydantic import BaseModel, ValidationError

from headwater.api import GROUP, VERSION, RunPhase, RunStatus
from headwater.controller import catalog
from headwater.controller.kube import Kube, Manifest
from headwater.controller.naming import RUN_LABEL
from headwater.controller.runs import RunReconciler
from headwater.controller.settings import OperatorSettings

log = logging.getLogger(__name__)
CATALOG = ("datasets", "functions", "dataflows")
VOLATILE_STATUS_FIELDS = ("lastChecked",)


@dataclass
class Services:
    kube: Kube
    settings: OperatorSettings
    runs: RunReconciler

    def status_of(self, plural: str, body: Manifest) -> BaseModel:
        if plural == "datasets":
            return catalog.dataset_status(body, self.kube, self.settings)
        if plural == "functions":
            return catalog.function_status(body, self.kube)
        return catalog.dataflow_status(body, self.kube)

    def check(self, plural: str, namespace: str, name: str) -> None:
        """Recompute a catalog object's status; write it only when it says something new."""
        body = self.kube.get(plural, namespace, name)
        if body is None:
            return
        status = self.status_of(plural, body).model_dump(
            mode="json", by_alias=True, exclude_none=True
        )
        if _comparable(status) != _comparable(body.get("status") or {}):
            self.kube.replace_status(plural, namespace, name, status)

    def dependents_changed(self, plural: str, namespace: str) -> None:
        """A Function change re-validates the namespace's Dataflows; any catalog change
        may unblock Runs waiting for it."""
        if plural == "functions":
            for dataflow in self.kube.list_objects("dataflows", namespace):
                _guarded(self.check, "dataflows", namespace, dataflow["metadata"]["name"])
        for run in self.kube.list_objects("runs", namespace):
            if _pending(run):
                _guarded(self.runs.reconcile, namespace, run["metadata"]["name"])

    def resync(self) -> None:
        """Look at everything again: the safety net under missed events."""
        namespaces: list[str | None] = list(self.settings.namespaces) or [None]
        for namespace in namespaces:
            for plural in CATALOG:
                for item in self.kube.list_objects(plural, namespace):
                    _guarded(
                        self.check, plural, item["metadata"]["namespace"], item["metadata"]["name"]
                    )
            for run in self.kube.list_objects("runs", namespace):
                _guarded(self.runs.reconcile, run["metadata"]["namespace"], run["metadata"]["name"])


def _observed_generation(body: Manifest) -> int | None:
    status = body.get("status")
    return status.get("observedGeneration") if isinstance(status, dict) else None


def _pending(run: Manifest) -> bool:
    """A Run not started yet, perhaps waiting for what just changed."""
    try:
        status = RunStatus.model_validate(run.get("status") or {})
    except ValidationError:
        return False
    return status.phase == RunPhase.PENDING


def _comparable(status: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in status.items() if k not in VOLATILE_STATUS_FIELDS}


def _guarded(action: Callable[..., None], *args: str) -> None:
    try:
        action(*args)
    except Exception:
        log.exception("resync of %s failed", "/".join(args))


def register(registry: kopf.OperatorRegistry, services: Services) -> None:
    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        # The same kubeconfig or in-cluster credentials the kubernetes client uses.
        return kopf.login_via_client(**kwargs)

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.posting.level = logging.WARNING
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330
        settings.execution.max_workers = 8

    @kopf.on.startup(registry=registry)
    def start_resync(**_: Any) -> None:
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(services.settings.resync_seconds):
                _guarded(services.resync)

        threading.Thread(target=loop, name="headwater-resync", daemon=True).start()

    @kopf.on.event(GROUP, VERSION, "runs", registry=registry)
    def run_changed(type: str | None, namespace: str, name: str, **_: Any) -> None:
        if type == "DELETED":
            services.runs.forget(namespace, name)
            return
        services.runs.reconcile(namespace, name)

    @kopf.on.event("batch", "v1", "jobs", labels={RUN_LABEL: kopf.PRESENT}, registry=registry)
    def job_changed(namespace: str, labels: dict[str, str], **_: Any) -> None:
        services.runs.reconcile(namespace, labels[RUN_LABEL])

    for plural in CATALOG:
        _register_catalog(registry, services, plural)


def _register_catalog(registry: kopf.OperatorRegistry, services: Services, plural: str) -> None:
    @kopf.on.event(GROUP, VERSION, plural, registry=registry, id=f"{plural}-changed")
    def changed(type: str | None, body: Manifest, namespace: str, name: str, **_: Any) -> None:
        if type != "DELETED":
            if _observed_generation(body) == body["metadata"].get("generation"):
                return  # our own status write, or nothing new; the resync re-checks
            services.check(plural, namespace, name)
        services.dependents_changed(plural, namespace)
