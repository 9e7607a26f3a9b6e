"""A cluster namespace as a place to run Runs: what `Client.cluster()` drives, with the
user's own Kubernetes credentials (kubeconfig, or the Pod's service account).

Objects are server-side applied as `kubectl apply --server-side` would; a Run is
created (a name taken is an error, not a silent no-op on a finished Run). Data in and
out of the store — datasets, outputs, a stored log once its Pod is gone — goes through
headwater.transfer, which finds the store from what the operator publishes. A node's
log comes from its Pod while the Pod exists (the API server streams it), else from the
attempt's log the runner left in the store.
"""

import json
import queue
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cached_property, wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from headwater.api import GROUP, VERSION, Run, now
from headwater.artifacts import layout
from headwater.controller.kube import api_message
from headwater.controller.naming import COMPONENT_LABEL, CONTAINER, NODE_LABEL, RUN_LABEL
from headwater.controller.results import COMPONENT, ENTRIES_KEY, Entry
from headwater.engine import TERMINAL_PHASES
from headwater.sdk.backend import CachedResult, LogChunk, Manifest, RunRecord, empty
from headwater.sdk.errors import HeadwaterError, NotFound

if TYPE_CHECKING:
    from headwater.transfer import Output, Target

P = ParamSpec("P")
R = TypeVar("R")
FIELD_MANAGER = "headwater"
PLURALS = {"Dataset": "datasets", "Function": "functions", "Dataflow": "dataflows"}
POLL_SECONDS = 1.0


def refused(method: Callable[P, R]) -> Callable[P, R]:
    """The API server's refusals as HeadwaterErrors in its own words; a 404 NotFound."""

    @wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except ApiException as error:
            kind = NotFound if error.status == 404 else HeadwaterError
            raise kind(api_message(error)) from None

    return call


@contextmanager
def _transfers() -> Iterator[None]:
    """headwater.transfer's errors as the Python API's."""
    from headwater.transfer import NotFound as MissingThere
    from headwater.transfer import TransferError

    try:
        yield
    except MissingThere as error:
        raise NotFound(str(error)) from None
    except TransferError as error:
        raise HeadwaterError(str(error)) from None


def _created(body: Manifest) -> datetime | None:
    stamp = body.get("metadata", {}).get("creationTimestamp")
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None


def _record(body: Manifest) -> RunRecord:
    return RunRecord(Run.model_validate(body), _created(body))


class ClusterBackend:
    def __init__(self, namespace: str | None, context: str | None) -> None:
        # The kubeconfig as headwater.transfer reads it (kubectl's rules), so that every
        # call of the Python API reaches the same namespace.
        from headwater.transfer.discovery import _api_client
        from headwater.transfer.kube import NamespaceApi

        with _transfers():
            api, default_namespace = _api_client(context)
        self.api = api
        self.namespace = namespace or default_namespace
        self.kube = NamespaceApi(api, self.namespace)
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self.where = f"namespace {self.namespace}"

    def _plain(self, obj: object) -> Manifest:
        return dict(self.api.sanitize_for_serialization(obj))

    @cached_property
    def target(self) -> "Target":
        """The namespace with its store, found when first needed: applying and running
        need no store, so they work before the operator has published one."""
        from headwater.transfer.discovery import Target, find_store

        with _transfers():
            return Target(self.kube, find_store(self.kube))

    # Objects.

    @refused
    def apply(self, documents: list[Manifest]) -> list[str]:
        lines = []
        for document in documents:
            kind, name = document.get("kind"), document["metadata"]["name"]
            options: dict[str, Any] = {
                "field_manager": FIELD_MANAGER,
                "force": True,
                "_content_type": "application/apply-patch+yaml",
            }
            if kind == "Run":
                raise TypeError("Runs are submitted, not applied: client.submit(dataflow, …)")
            if kind in PLURALS:
                self.custom.patch_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, PLURALS[kind], name, document, **options
                )
            elif kind == "ConfigMap":
                self.core.patch_namespaced_config_map(name, self.namespace, document, **options)
            elif kind == "Secret":
                self.core.patch_namespaced_secret(name, self.namespace, document, **options)
            else:
                raise TypeError(f"cannot apply {kind}/{name}: not a headwater object")
            lines.append(f"{kind}/{name} serverside-applied")
        return lines

    def push_dataset(self, name: str, path: Path, data_format: str | None) -> str:
        from headwater.transfer import push_dataset

        with _transfers():
            pushed = push_dataset(self.target, name, path, data_format)
        if not pushed.changed:
            return f"dataset {name}: unchanged, {pushed.uri} holds these bytes"
        return f"dataset {name}: pushed {path} to {pushed.uri} in {self.where}"

    # Runs.

    @refused
    def create_run(self, run: Run) -> None:
        body = {k: v for k, v in run.to_wire().items() if k != "status"}
        try:
            self.custom.create_namespaced_custom_object(
                GROUP, VERSION, self.namespace, "runs", body
            )
        except ApiException as error:
            if error.status == 409:
                raise HeadwaterError(
                    f"a Run named {run.metadata.name} exists in {self.where}: choose another name"
                ) from None
            raise

    @refused
    def read_run(self, name: str) -> RunRecord | None:
        try:
            body = self.custom.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, "runs", name
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return _record(body)

    @refused
    def list_runs(self) -> list[RunRecord]:
        found = self.custom.list_namespaced_custom_object(GROUP, VERSION, self.namespace, "runs")
        records = [_record(body) for body in found.get("items", [])]
        return sorted(records, key=lambda r: (r.created or now(), r.name))

    @refused
    def stop_run(self, name: str) -> None:
        self.custom.patch_namespaced_custom_object(
            GROUP,
            VERSION,
            self.namespace,
            "runs",
            name,
            {"spec": {"stop": True}},
            _content_type="application/merge-patch+json",
        )

    @refused
    def delete_run(self, name: str) -> None:
        self.custom.delete_namespaced_custom_object(
            GROUP, VERSION, self.namespace, "runs", name, propagation_policy="Background"
        )

    def unserved(self, record: RunRecord, after_seconds: float) -> str | None:
        if not empty(record.run.status) or record.created is None:
            return None
        waited = (now() - record.created).total_seconds()
        if waited < after_seconds:
            return None
        from headwater.transfer import TransferError
        from headwater.transfer.discovery import find_store

        head = (
            f"run {record.name} has had no status for {waited:.0f} s: no headwater operator"
            f" serves {self.where}"
        )
        try:
            find_store(self.kube)
        except TransferError as error:
            return f"{head}, and none seems installed: {error}"
        return (
            f"{head}. One is installed but does not reconcile this namespace: is it running"
            " (kubectl get pods -n headwater-system), and do its watchNamespaces include"
            f" {self.namespace}? The Run starts once one does."
        )

    # Outputs.

    def outputs(self, record: RunRecord) -> "list[Output]":
        from headwater.transfer import list_outputs

        with _transfers():
            return list_outputs(self.target, record.name)

    def download(self, record: RunRecord, name: str | None, into: Path) -> list[Path]:
        from headwater.transfer import download_outputs

        with _transfers():
            return download_outputs(self.target, record.name, into, name)

    # Logs.

    @refused
    def _pods(self, run: str, node: str | None = None) -> list[Manifest]:
        selector = f"{RUN_LABEL}={run}" + (f",{NODE_LABEL}={node}" if node else "")
        found = self.core.list_namespaced_pod(self.namespace, label_selector=selector)
        pods = [self._plain(pod) for pod in found.items]
        return sorted(pods, key=lambda p: p["metadata"].get("creationTimestamp") or "")

    @refused
    def _pod_log(self, pod: str) -> str:
        response = self.core.read_namespaced_pod_log(
            pod, self.namespace, container=CONTAINER, _preload_content=False
        )
        try:
            return bytes(response.data).decode(errors="replace")
        finally:
            response.release_conn()

    def logs(self, record: RunRecord, wanted: list[tuple[str, int | None]]) -> list[LogChunk]:
        """From the Pods while all of a node's are there (a node's Pods are its attempts
        in order); the rest from the store, all in one transfer."""
        status = record.run.status
        pods: dict[str, list[Manifest]] = {}
        for pod in self._pods(record.name):
            pods.setdefault(pod["metadata"].get("labels", {}).get(NODE_LABEL, ""), []).append(pod)
        found: dict[tuple[str, int], str] = {}
        stored: list[tuple[str, int]] = []
        for node, attempt in wanted:
            state = status.nodes.get(node) if status else None
            latest = (state.attempts or 1) if state else 1
            number = attempt or latest
            mine = pods.get(node, [])
            if len(mine) == latest and 1 <= number <= len(mine):
                found[(node, number)] = self._pod_log(mine[number - 1]["metadata"]["name"])
            else:
                stored.append((node, number))
        found |= self._stored_logs(record.name, stored)
        return [LogChunk(node, number, found[(node, number)]) for node, number in found]

    def _stored_logs(self, run: str, wanted: list[tuple[str, int]]) -> dict[tuple[str, int], str]:
        from headwater.logs import LogNotFound, read_log
        from headwater.transfer.access import JobStore
        from headwater.transfer.discovery import object_store_options
        from headwater.transfer.model import NoProgress

        if not wanted:
            return {}
        with _transfers():
            target = self.target
            if target.store.kind == "object":
                options = object_store_options(target)
                try:
                    return {
                        (node, n): read_log(
                            target.root, run, node, n, storage_options=options
                        ).data.decode(errors="replace")
                        for node, n in wanted
                    }
                except LogNotFound as missing:
                    raise NotFound(str(missing)) from None
            with tempfile.TemporaryDirectory() as scratch:
                items = [
                    (layout.attempt_log("", run, node, n), None, Path(scratch) / f"{i}.log")
                    for i, (node, n) in enumerate(wanted)
                ]
                JobStore(target, run).fetch(items, NoProgress())
                return {
                    key: local.read_text(errors="replace")
                    for key, (_, _, local) in zip(wanted, items, strict=True)
                }

    def follow(self, name: str, nodes: list[str] | None) -> Iterator[LogChunk]:
        """Each Pod of the Run once: a running one streamed as it prints, a finished one
        read whole; until the Run has ended and every stream is done."""
        chunks: queue.Queue[LogChunk | None] = queue.Queue()
        handled: set[str] = set()
        streams: list[threading.Thread] = []
        while True:
            record = self.read_run(name)
            if record is None:
                raise NotFound(f"no Run {name} in {self.where}")
            seen: dict[str, int] = {}
            for pod in self._pods(name):
                node = pod["metadata"].get("labels", {}).get(NODE_LABEL, "")
                seen[node] = seen.get(node, 0) + 1
                pod_name = pod["metadata"]["name"]
                if pod_name in handled or (nodes and node not in nodes):
                    continue
                phase = (pod.get("status") or {}).get("phase")
                if phase == "Running":
                    stream = threading.Thread(
                        target=self._stream, args=(pod_name, node, seen[node], chunks), daemon=True
                    )
                    stream.start()
                    streams.append(stream)
                elif phase in ("Succeeded", "Failed"):
                    chunks.put(LogChunk(node, seen[node], self._pod_log(pod_name)))
                else:
                    continue
                handled.add(pod_name)
            deadline = time.monotonic() + POLL_SECONDS
            while (left := deadline - time.monotonic()) > 0:
                try:
                    chunk = chunks.get(timeout=left)
                except queue.Empty:
                    break
                if chunk is not None:
                    yield chunk
            status = record.run.status
            ended = status is not None and status.phase in TERMINAL_PHASES
            if ended and not any(s.is_alive() for s in streams) and chunks.empty():
                return

    def _stream(
        self, pod: str, node: str, attempt: int, into: "queue.Queue[LogChunk | None]"
    ) -> None:
        try:
            response = self.core.read_namespaced_pod_log(
                pod, self.namespace, container=CONTAINER, follow=True, _preload_content=False
            )
            try:
                for line in iter(response.readline, b""):
                    into.put(LogChunk(node, attempt, line.decode(errors="replace")))
            finally:
                response.release_conn()
        except (ApiException, OSError):
            pass  # the Pod went (stopped, deleted): what it printed is in the store
        into.put(None)

    # Cache.

    @refused
    def _cache_config_maps(self, run: str | None) -> list[Manifest]:
        selector = f"{COMPONENT_LABEL}={COMPONENT}" + (f",{RUN_LABEL}={run}" if run else "")
        found = self.core.list_namespaced_config_map(self.namespace, label_selector=selector)
        return [self._plain(item) for item in found.items]

    def cache_entries(self) -> list[CachedResult]:
        results = [
            CachedResult(digest, run, e.node, e.function, e.outputs, e.finished_at)
            for body in self._cache_config_maps(None)
            for run in [body["metadata"].get("labels", {}).get(RUN_LABEL, "")]
            for digest, e in _entries(body).items()
        ]
        return sorted(results, key=lambda r: r.finished_at)

    @refused
    def clear_cache(self, run: str | None) -> int:
        """Deletes the cache ConfigMaps (all, or the one of `run`); how many results
        they offered."""
        dropped = 0
        for body in self._cache_config_maps(run):
            dropped += len(_entries(body))
            try:
                self.core.delete_namespaced_config_map(body["metadata"]["name"], self.namespace)
            except ApiException as error:
                if error.status != 404:
                    raise
        return dropped


def _entries(body: Manifest) -> dict[str, Entry]:
    """A cache ConfigMap's entries by fingerprint; none when it is unreadable."""
    try:
        raw = json.loads((body.get("data") or {}).get(ENTRIES_KEY, "{}"))
        return {digest: Entry.model_validate(item) for digest, item in raw.items()}
    except (ValueError, AttributeError):
        return {}
