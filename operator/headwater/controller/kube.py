"""The only module that calls the Kubernetes API: every read and write, through one
client and one rate limiter, each call declaring the permission it needs.

The declarations are the operator's RBAC: `PERMISSIONS` (with what kopf's watches need,
in `handlers.WATCHED`) is what the chart grants, and a test checks that the two agree,
so the operator is granted exactly what its code uses.
"""

import base64
import functools
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from prometheus_client import Counter

from headwater.api import GROUP, VERSION, now
from headwater.api.base import format_time
from headwater.controller.naming import MANAGER, RUN_LABEL
from headwater.controller.settings import OperatorSettings
from headwater.references import KeyValues

Manifest = dict[str, Any]
API_WORKERS = 8
log = logging.getLogger(__name__)

API_REQUESTS = Counter(
    "headwater_api_requests_total",
    "Kubernetes API requests the operator made (watches not included)",
    ["verb", "resource"],
)


@dataclass(frozen=True, order=True)
class Permission:
    """One RBAC rule the operator's code needs."""

    group: str
    resource: str
    verb: str
    scope: str = "namespaced"
    """namespaced: in every served namespace; operator: in the operator's own namespace."""


PERMISSIONS: set[Permission] = set()
"""Filled by `needs` as the module loads: every call below declares its permission."""

P = ParamSpec("P")
R = TypeVar("R")


def needs(group: str, resource: str, verb: str, scope: str = "namespaced") -> Callable:
    """Declare the permission a call needs, count the call, and rate-limit it."""
    PERMISSIONS.add(Permission(group, resource, verb, scope))

    def decorate(method: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(method)
        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            kube = args[0]
            assert isinstance(kube, Kube)
            kube.limiter.acquire()
            API_REQUESTS.labels(verb, resource).inc()
            return method(*args, **kwargs)

        return call

    return decorate


class RateLimiter:
    """A token bucket: `qps` requests a second on average, `burst` at once."""

    def __init__(self, qps: float, burst: int) -> None:
        self.qps, self.burst = qps, burst
        self.tokens = float(burst)
        self.updated = time.monotonic()
        self.lock = threading.Lock()

    def acquire(self) -> None:
        while True:
            with self.lock:
                moment = time.monotonic()
                self.tokens = min(self.burst, self.tokens + (moment - self.updated) * self.qps)
                self.updated = moment
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                wait = (1 - self.tokens) / self.qps
            time.sleep(wait)


def kubeconfig_file() -> str:
    """KUBECONFIG as it is now: the client library reads it once, when first imported,
    so a notebook that sets it later would otherwise load ~/.kube/config."""
    return os.environ.get("KUBECONFIG") or "~/.kube/config"


def load_client_config() -> client.Configuration:
    """In-cluster config inside a Pod, else the current kubeconfig."""
    configuration = client.Configuration()
    configuration.connection_pool_maxsize = 2 * API_WORKERS
    try:
        config.load_incluster_config(client_configuration=configuration)
    except config.ConfigException:
        config.load_kube_config(kubeconfig_file(), client_configuration=configuration)
    return configuration


class Conflict(Exception):
    """A write lost a race: the object changed since it was read."""


class Kube:
    def __init__(self, settings: OperatorSettings, configuration: client.Configuration) -> None:
        self.api = client.ApiClient(configuration)
        self.custom = client.CustomObjectsApi(self.api)
        self.core = client.CoreV1Api(self.api)
        self.batch = client.BatchV1Api(self.api)
        self.coordination = client.CoordinationV1Api(self.api)
        self.limiter = RateLimiter(settings.qps, settings.burst)
        self.settings = settings
        self.workers = ThreadPoolExecutor(max_workers=API_WORKERS, thread_name_prefix="kube")

    def close(self) -> None:
        self.workers.shutdown(wait=False, cancel_futures=True)
        self.api.close()

    def _plain(self, obj: Any) -> Manifest:
        return self.api.sanitize_for_serialization(obj)

    # Our resources.

    @needs(GROUP, "runs", "get")
    def get_run(self, namespace: str, name: str) -> Manifest | None:
        """A Run read fresh, after a write lost a race with a newer version."""
        try:
            return self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "runs", name)
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def list_objects(self, plural: str, namespace: str | None) -> tuple[list[Manifest], str]:
        """Objects of one of our kinds in a namespace, or all (namespace None), and the
        resourceVersion of the list; the permission is kopf's list for its watch."""
        self.limiter.acquire()
        API_REQUESTS.labels("list", plural).inc()
        if namespace is None:
            found = self.custom.list_cluster_custom_object(GROUP, VERSION, plural)
        else:
            found = self.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, plural)
        return list(found.get("items", [])), str(found["metadata"]["resourceVersion"])

    def replace_status(self, plural: str, body: Manifest, status: Manifest) -> Manifest | None:
        """Write the whole status, only over the version read (`body`'s resourceVersion);
        the object as stored afterwards, None if it is gone. Raises Conflict."""
        self.limiter.acquire()
        API_REQUESTS.labels("update", f"{plural}/status").inc()
        metadata = body["metadata"]
        updated = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": body.get("kind"),
            "metadata": {
                "name": metadata["name"],
                "namespace": metadata["namespace"],
                "resourceVersion": metadata["resourceVersion"],
            },
            "spec": body.get("spec"),
            "status": status,
        }
        try:
            return dict(
                self.custom.replace_namespaced_custom_object_status(
                    GROUP, VERSION, metadata["namespace"], plural, metadata["name"], updated
                )
            )
        except ApiException as error:
            if error.status == 404:
                return None
            if error.status == 409:
                raise Conflict(f"{plural} {metadata['name']} changed since it was read") from None
            raise

    @needs(GROUP, "runs", "delete")
    def delete_run(self, namespace: str, name: str) -> None:
        try:
            self.custom.delete_namespaced_custom_object(
                GROUP, VERSION, namespace, "runs", name, propagation_policy="Background"
            )
        except ApiException as error:
            if error.status != 404:
                raise

    # ConfigMaps and PVCs. Secrets are never read: a node that cannot mount one says so.

    @needs("", "configmaps", "get")
    def config_map_values(self, namespace: str, name: str) -> dict[str, bytes] | None:
        """A ConfigMap's keys, decoded; None when it does not exist."""
        try:
            config_map = self.core.read_namespaced_config_map(name, namespace)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        values = {k: v.encode() for k, v in (config_map.data or {}).items()}
        values.update({k: base64.b64decode(v) for k, v in (config_map.binary_data or {}).items()})
        return values

    def config_maps_of(self, namespace: str) -> KeyValues:
        """A lookup of the namespace's ConfigMaps by name, for headwater.references."""
        return lambda name: self.config_map_values(namespace, name)

    @needs("", "configmaps", "create")
    def create_config_map(self, manifest: Manifest) -> None:
        try:
            self.core.create_namespaced_config_map(manifest["metadata"]["namespace"], manifest)
        except ApiException as error:
            if error.status != 409:
                raise

    @needs("", "configmaps", "get")
    def read_config_map(self, namespace: str, name: str) -> Manifest | None:
        try:
            return self._plain(self.core.read_namespaced_config_map(name, namespace))
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    @needs("", "configmaps", "create", scope="operator")
    def publish(self, namespace: str, name: str, data: dict[str, str]) -> None:
        """A ConfigMap the operator owns in its own namespace, made or brought up to date."""
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {
                    "app.kubernetes.io/name": "headwater",
                    "app.kubernetes.io/managed-by": MANAGER,
                },
            },
            "data": data,
        }
        try:
            self.core.create_namespaced_config_map(namespace, body)
        except ApiException as error:
            if error.status != 409:
                raise
            self._replace_config_map(namespace, name, body)

    @needs("", "configmaps", "update", scope="operator")
    def _replace_config_map(self, namespace: str, name: str, body: Manifest) -> None:
        self.core.replace_namespaced_config_map(name, namespace, body)

    @needs("", "persistentvolumeclaims", "create")
    def ensure_pvc(self, namespace: str) -> None:
        """The namespace's artifact store claim; an existing one is left as is."""
        store = self.settings.store
        spec: Manifest = {
            "accessModes": [store.pvc_access_mode],
            "resources": {"requests": {"storage": store.pvc_size}},
        }
        if store.pvc_storage_class:
            spec["storageClassName"] = store.pvc_storage_class
        manifest = {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {
                "name": store.pvc_name,
                "namespace": namespace,
                "labels": {
                    "app.kubernetes.io/name": "headwater",
                    "app.kubernetes.io/component": "artifact-store",
                    "app.kubernetes.io/managed-by": MANAGER,
                },
            },
            "spec": spec,
        }
        try:
            self.core.create_namespaced_persistent_volume_claim(namespace, manifest)
        except ApiException as error:
            if error.status != 409:
                raise

    # Jobs and Pods of runs: listed once at start, then known from the watches.

    def list_run_objects(
        self, kind: str, namespace: str | None, more: str = ""
    ) -> tuple[list[Manifest], str]:
        """Every Job, Pod or ConfigMap labelled with a Run (and `more` selectors), and
        the list's resourceVersion; the permission is kopf's list."""
        self.limiter.acquire()
        API_REQUESTS.labels("list", kind).inc()
        selector = ",".join(filter(None, [RUN_LABEL, more]))
        if kind == "configmaps":
            found = (
                self.core.list_config_map_for_all_namespaces(label_selector=selector)
                if namespace is None
                else self.core.list_namespaced_config_map(namespace, label_selector=selector)
            )
        elif kind == "jobs":
            found = (
                self.batch.list_job_for_all_namespaces(label_selector=selector)
                if namespace is None
                else self.batch.list_namespaced_job(namespace, label_selector=selector)
            )
        else:
            found = (
                self.core.list_pod_for_all_namespaces(label_selector=selector)
                if namespace is None
                else self.core.list_namespaced_pod(namespace, label_selector=selector)
            )
        return [self._plain(item) for item in found.items], str(found.metadata.resource_version)

    def create_jobs(self, manifests: list[Manifest]) -> tuple[list[Manifest], dict[str, str]]:
        """Create Jobs side by side (a fan-out makes many at once): the Jobs as created,
        and the Jobs the API server rejected as invalid, name → its message."""
        created: list[Manifest] = []
        rejected: dict[str, str] = {}
        for manifest, outcome in zip(
            manifests, self.workers.map(self._create_or_rejection, manifests), strict=True
        ):
            if isinstance(outcome, str):
                rejected[manifest["metadata"]["name"]] = outcome
            elif outcome is not None:
                created.append(outcome)
        return created, rejected

    def _create_or_rejection(self, manifest: Manifest) -> Manifest | str | None:
        try:
            return self.create_job(manifest)
        except ApiException as error:
            if error.status not in (400, 422):
                raise
            return api_message(error)

    @needs("batch", "jobs", "create")
    def create_job(self, manifest: Manifest) -> Manifest | None:
        """The Job as created; None when it existed already (a retried reconcile)."""
        try:
            job = self.batch.create_namespaced_job(manifest["metadata"]["namespace"], manifest)
        except ApiException as error:
            if error.status == 409:
                return None
            raise
        return self._plain(job)

    @needs("batch", "jobs", "delete")
    def delete_job(self, namespace: str, name: str) -> None:
        """Delete with Background propagation: its Pods go too."""
        try:
            self.batch.delete_namespaced_job(name, namespace, propagation_policy="Background")
        except ApiException as error:
            if error.status != 404:
                raise

    @needs("", "events", "list")
    def warnings_about(self, namespace: str, kind: str, name: str) -> list[Manifest]:
        """Warning Events on one object, newest last: why a Pod cannot mount a volume,
        which its status does not say."""
        found = self.core.list_namespaced_event(
            namespace,
            field_selector=(f"involvedObject.kind={kind},involvedObject.name={name},type=Warning"),
        )
        events = [self._plain(e) for e in found.items]
        return sorted(events, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")

    def event(self, involved: Manifest, reason: str, message: str, warning: bool = False) -> None:
        """A core/v1 Event on one of our objects, as `kubectl describe` shows them; posted
        in the background, since nothing waits on it."""
        self.workers.submit(self._post_event, involved, reason, message, warning)

    @needs("", "events", "create")
    def _post_event(self, involved: Manifest, reason: str, message: str, warning: bool) -> None:
        metadata = involved["metadata"]
        stamp = format_time(now())
        body = {
            "metadata": {
                "generateName": f"{metadata['name']}.",
                "namespace": metadata["namespace"],
            },
            "involvedObject": {
                "apiVersion": involved.get("apiVersion", f"{GROUP}/{VERSION}"),
                "kind": involved["kind"],
                "name": metadata["name"],
                "namespace": metadata["namespace"],
                "uid": metadata.get("uid"),
                "resourceVersion": metadata.get("resourceVersion"),
            },
            "reason": reason,
            "message": message[:1024],
            "type": "Warning" if warning else "Normal",
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
            "source": {"component": MANAGER},
            "reportingComponent": MANAGER,
        }
        try:
            self.core.create_namespaced_event(metadata["namespace"], body)
        except Exception:  # events are best effort: say so and go on
            log.warning("could not post event %s on %s", reason, metadata["name"], exc_info=True)


# Status writes of the catalog kinds and the leader-election Lease go through
# CustomObjectsApi and LeaseElector; their permissions are declared here by hand.
PERMISSIONS |= {
    Permission(GROUP, f"{plural}/status", "update")
    for plural in ("runs", "datasets", "functions", "dataflows")
}
# Jobs and snapshots are owned by their Run with blockOwnerDeletion, which the
# OwnerReferencesPermissionEnforcement admission plugin allows only to whoever may
# update the owner's finalizers.
PERMISSIONS.add(Permission(GROUP, "runs/finalizers", "update"))
PERMISSIONS |= {
    Permission("coordination.k8s.io", "leases", verb, "operator")
    for verb in ("get", "create", "update")
}


def api_message(error: ApiException) -> str:
    """What the API server said, from its Status body."""
    try:
        return str(json.loads(error.body)["message"])
    except (TypeError, ValueError, KeyError):
        return str(error.reason or error.status)
