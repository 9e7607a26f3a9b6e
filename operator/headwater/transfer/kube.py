"""Every Kubernetes API call a transfer makes, with the user's own credentials: the
objects Kubernetes' `edit` role lets a namespace's users touch (Datasets, Runs, Jobs,
ConfigMaps, claims, Secrets, Pods' logs), and the one ConfigMap the operator publishes.
A refusal keeps the API server's own words (Forbidden); nothing here retries."""

import base64
import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from headwater.api import GROUP, VERSION
from headwater.controller.kube import api_message
from headwater.transfer.errors import Forbidden, TransferError

Manifest = dict[str, Any]
P = ParamSpec("P")
R = TypeVar("R")
DRY_RUN = "All"


def refusals(method: Callable[P, R]) -> Callable[P, R]:
    """The API server's refusals as TransferErrors that carry its message."""

    @functools.wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except ApiException as error:
            if error.status in (401, 403):
                raise Forbidden(api_message(error)) from None
            raise TransferError(api_message(error)) from None

    return call


def _absent(error: ApiException) -> bool:
    return error.status == 404


class NamespaceApi:
    """The API as one user in one namespace sees it."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.api = api
        self.namespace = namespace
        self.core = client.CoreV1Api(api)
        self.batch = client.BatchV1Api(api)
        self.custom = client.CustomObjectsApi(api)

    def _plain(self, obj: Any) -> Manifest:
        return dict(self.api.sanitize_for_serialization(obj))

    # headwater objects.

    @refusals
    def get(self, plural: str, name: str) -> Manifest | None:
        try:
            return dict(
                self.custom.get_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, plural, name
                )
            )
        except ApiException as error:
            if _absent(error):
                return None
            raise

    @refusals
    def create_dataset(self, body: Manifest, dry_run: bool = False) -> None:
        self.custom.create_namespaced_custom_object(
            GROUP, VERSION, self.namespace, "datasets", body, dry_run=DRY_RUN if dry_run else None
        )

    @refusals
    def patch_dataset(self, name: str, patch: Manifest, dry_run: bool = False) -> None:
        """A JSON merge patch: null removes a field."""
        self.custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            self.namespace,
            "datasets",
            name,
            patch,
            dry_run=DRY_RUN if dry_run else None,
        )

    # ConfigMaps, Secrets, claims.

    @refusals
    def config_map(self, name: str, namespace: str | None = None) -> Manifest | None:
        try:
            found = self.core.read_namespaced_config_map(name, namespace or self.namespace)
        except ApiException as error:
            if _absent(error):
                return None
            raise
        return self._plain(found)

    @refusals
    def secret_values(self, name: str) -> dict[str, bytes] | None:
        try:
            secret = self.core.read_namespaced_secret(name, self.namespace)
        except ApiException as error:
            if _absent(error):
                return None
            raise
        return {key: base64.b64decode(value) for key, value in (secret.data or {}).items()}

    @refusals
    def create_config_map(self, body: Manifest) -> None:
        self.core.create_namespaced_config_map(self.namespace, body)

    @refusals
    def delete_config_maps(self, selector: str) -> None:
        """At once, in one request: gone from etcd when this returns."""
        self.core.delete_collection_namespaced_config_map(self.namespace, label_selector=selector)

    @refusals
    def has_claim(self, name: str) -> bool:
        try:
            self.core.read_namespaced_persistent_volume_claim(name, self.namespace)
        except ApiException as error:
            if _absent(error):
                return False
            raise
        return True

    @refusals
    def ensure_claim(self, body: Manifest) -> bool:
        """Create the claim unless it exists; True when this call made it."""
        if self.has_claim(body["metadata"]["name"]):
            return False
        try:
            self.core.create_namespaced_persistent_volume_claim(self.namespace, body)
        except ApiException as error:
            if error.status == 409:  # the operator made it meanwhile
                return False
            raise
        return True

    # Jobs and their Pods.

    @refusals
    def create_job(self, body: Manifest, dry_run: bool = False) -> Manifest:
        created = self.batch.create_namespaced_job(
            self.namespace, body, dry_run=DRY_RUN if dry_run else None
        )
        return self._plain(created)

    @refusals
    def resume_job(self, name: str) -> None:
        self.batch.patch_namespaced_job(
            name,
            self.namespace,
            {"spec": {"suspend": False}},
            _content_type="application/merge-patch+json",
        )

    @refusals
    def job(self, name: str) -> Manifest | None:
        try:
            return self._plain(self.batch.read_namespaced_job(name, self.namespace))
        except ApiException as error:
            if _absent(error):
                return None
            raise

    @refusals
    def jobs(self, selector: str) -> list[Manifest]:
        found = self.batch.list_namespaced_job(self.namespace, label_selector=selector)
        return [self._plain(job) for job in found.items]

    @refusals
    def delete_job(self, name: str) -> None:
        """Background propagation: its Pods and the ConfigMaps it owns go too."""
        try:
            self.batch.delete_namespaced_job(name, self.namespace, propagation_policy="Background")
        except ApiException as error:
            if not _absent(error):
                raise

    @refusals
    def pods(self, selector: str) -> list[Manifest]:
        found = self.core.list_namespaced_pod(self.namespace, label_selector=selector)
        return [self._plain(pod) for pod in found.items]

    @refusals
    def log(self, pod: str, container: str) -> bytes:
        response = self.core.read_namespaced_pod_log(
            pod, self.namespace, container=container, _preload_content=False
        )
        try:
            return bytes(response.data)
        finally:
            response.release_conn()

    @refusals
    def warnings(self, kind: str, name: str) -> list[str]:
        """Warning Events on one object, oldest first: why a Pod cannot mount a volume
        or a Job cannot make its Pods, which their status does not say."""
        selector = f"involvedObject.kind={kind},involvedObject.name={name},type=Warning"
        found = self.core.list_namespaced_event(self.namespace, field_selector=selector)
        events = sorted(found.items, key=lambda e: str(e.last_timestamp or e.event_time or ""))
        return [f"{event.reason}: {event.message}" for event in events]
