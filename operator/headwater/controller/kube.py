"""The only module that talks to the Kubernetes API: reads, creates, status patches,
Events, all through one client and one rate limiter."""

import base64
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from headwater.api import GROUP, VERSION, now
from headwater.api.base import format_time
from headwater.controller.naming import MANAGER, RUN_LABEL
from headwater.controller.settings import OperatorSettings
from headwater.references import KeyValues

Manifest = dict[str, Any]
API_WORKERS = 8
log = logging.getLogger(__name__)


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


def load_client_config() -> client.Configuration:
    """In-cluster config inside a Pod, else the current kubeconfig."""
    configuration = client.Configuration()
    configuration.connection_pool_maxsize = 2 * API_WORKERS
    try:
        config.load_incluster_config(client_configuration=configuration)
    except config.ConfigException:
        config.load_kube_config(client_configuration=configuration)
    return configuration


class Kube:
    def __init__(self, settings: OperatorSettings, configuration: client.Configuration) -> None:
        self.api = client.ApiClient(configuration)
        self.custom = client.CustomObjectsApi(self.api)
        self.core = client.CoreV1Api(self.api)
        self.batch = client.BatchV1Api(self.api)
        self.limiter = RateLimiter(settings.qps, settings.burst)
        self.settings = settings
        self.workers = ThreadPoolExecutor(max_workers=API_WORKERS, thread_name_prefix="kube")

    def close(self) -> None:
        self.workers.shutdown(wait=False)
        self.api.close()

    def _plain(self, obj: Any) -> Manifest:
        return self.api.sanitize_for_serialization(obj)

    # Our resources.

    def get(self, plural: str, namespace: str, name: str) -> Manifest | None:
        self.limiter.acquire()
        try:
            return self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def list_objects(self, plural: str, namespace: str | None) -> list[Manifest]:
        """Objects of one kind in a namespace, or in all of them (namespace None)."""
        self.limiter.acquire()
        if namespace is None:
            found = self.custom.list_cluster_custom_object(GROUP, VERSION, plural)
        else:
            found = self.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, plural)
        return found.get("items", [])

    def replace_status(self, plural: str, namespace: str, name: str, status: Manifest) -> None:
        """Replace the whole status in one JSON patch, so fields that went away go away."""
        self.limiter.acquire()
        patch = [{"op": "add", "path": "/status", "value": status}]
        try:
            self.custom.patch_namespaced_custom_object_status(
                GROUP,
                VERSION,
                namespace,
                plural,
                name,
                patch,
                _content_type="application/json-patch+json",
            )
        except ApiException as error:
            if error.status != 404:  # deleted meanwhile: nothing to report to
                raise

    def delete_custom(self, plural: str, namespace: str, name: str) -> None:
        self.limiter.acquire()
        try:
            self.custom.delete_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, name, propagation_policy="Background"
            )
        except ApiException as error:
            if error.status != 404:
                raise

    # ConfigMaps, Secrets, PVCs.

    def key_values(self, kind: str, namespace: str, name: str) -> dict[str, bytes] | None:
        """A ConfigMap's or Secret's keys, decoded; None when it does not exist."""
        self.limiter.acquire()
        try:
            if kind == "Secret":
                secret = self.core.read_namespaced_secret(name, namespace)
                return {k: base64.b64decode(v) for k, v in (secret.data or {}).items()}
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
        return lambda name: self.key_values("ConfigMap", namespace, name)

    def create_config_map(self, manifest: Manifest) -> None:
        self.limiter.acquire()
        try:
            self.core.create_namespaced_config_map(manifest["metadata"]["namespace"], manifest)
        except ApiException as error:
            if error.status != 409:
                raise

    def read_config_map(self, namespace: str, name: str) -> Manifest | None:
        self.limiter.acquire()
        try:
            return self._plain(self.core.read_namespaced_config_map(name, namespace))
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def ensure_pvc(self, namespace: str) -> None:
        """The namespace's artifact store claim, made once; an existing one is left as is."""
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
        self.limiter.acquire()
        try:
            self.core.create_namespaced_persistent_volume_claim(namespace, manifest)
        except ApiException as error:
            if error.status != 409:
                raise

    # Jobs and Pods of a run.

    def jobs_of(self, namespace: str, run: str) -> list[Manifest]:
        self.limiter.acquire()
        found = self.batch.list_namespaced_job(namespace, label_selector=f"{RUN_LABEL}={run}")
        return [self._plain(j) for j in found.items]

    def pods_of(self, namespace: str, run: str) -> list[Manifest]:
        self.limiter.acquire()
        found = self.core.list_namespaced_pod(namespace, label_selector=f"{RUN_LABEL}={run}")
        return [self._plain(p) for p in found.items]

    def create_jobs(self, manifests: list[Manifest]) -> tuple[int, dict[str, str]]:
        """Create Jobs side by side (a fan-out makes many at once): how many were new,
        and the Jobs the API server rejected as invalid, name → its message."""
        created, rejected = 0, {}
        for manifest, outcome in zip(
            manifests, self.workers.map(self._create_or_rejection, manifests), strict=True
        ):
            if isinstance(outcome, str):
                rejected[manifest["metadata"]["name"]] = outcome
            else:
                created += outcome
        return created, rejected

    def _create_or_rejection(self, manifest: Manifest) -> bool | str:
        try:
            return self.create_job(manifest)
        except ApiException as error:
            if error.status not in (400, 422):
                raise
            return api_message(error)

    def create_job(self, manifest: Manifest) -> bool:
        """True when this call made it; False when it existed (a retried reconcile)."""
        self.limiter.acquire()
        try:
            self.batch.create_namespaced_job(manifest["metadata"]["namespace"], manifest)
        except ApiException as error:
            if error.status == 409:
                return False
            raise
        return True

    def delete_job(self, namespace: str, name: str) -> None:
        """Delete with Background propagation: its Pods go too."""
        self.limiter.acquire()
        try:
            self.batch.delete_namespaced_job(name, namespace, propagation_policy="Background")
        except ApiException as error:
            if error.status != 404:
                raise

    def event(self, involved: Manifest, reason: str, message: str, warning: bool = False) -> None:
        """A core/v1 Event on one of our objects, as `kubectl describe` shows them; posted
        in the background, since nothing waits on it."""
        self.workers.submit(self._post_event, involved, reason, message, warning)

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
        self.limiter.acquire()
        try:
            self.core.create_namespaced_event(metadata["namespace"], body)
        except Exception:  # events are best effort: say so and go on
            log.warning("could not post event %s on %s", reason, metadata["name"], exc_info=True)


def api_message(error: ApiException) -> str:
    """What the API server said, from its Status body."""
    try:
        return str(json.loads(error.body)["message"])
    except (TypeError, ValueError, KeyError):
        return str(error.reason or error.status)
