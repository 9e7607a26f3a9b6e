"""One transfer Job from creation to deletion. It is always deleted on the way out —
success, failure, Ctrl-C, SIGTERM — with Background propagation, so its Pods and the
ConfigMaps it owns go too. When the client is killed outright (SIGKILL, a lost
machine), `ttlSecondsAfterFinished` removes a Job that ran; one left suspended (an
upload killed while it sent chunks) never finishes, so the next upload into the
namespace deletes it once it is ORPHAN_SECONDS old. While a Job runs, a Pod that cannot
start is reported with the reason the cluster gives (Unschedulable, a FailedMount, an
image pull) instead of a hang."""

import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from headwater.transfer.builders import CONTAINER, MANAGER
from headwater.transfer.errors import TransferFailed
from headwater.transfer.kube import Manifest, NamespaceApi

POLL_SECONDS = 0.2
START_TIMEOUT_SECONDS = 120.0
ORPHAN_SECONDS = 600.0
"""A suspended transfer Job this old lost its client: no upload takes that long to
send one batch."""
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"

TRANSFER_SELECTOR = f"app.kubernetes.io/component=transfer,app.kubernetes.io/managed-by={MANAGER}"
PodHandler = Callable[[int, str], None]
"""Called once per completion index with the log of its Pod that succeeded."""


def _condition(job: Manifest, kind: str) -> dict[str, Any] | None:
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind and condition.get("status") == "True":
            return dict(condition)
    return None


def _waiting(pod: Manifest) -> str | None:
    """Why a Pod has not started, as its status says, or None if nothing is said."""
    status = pod.get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return f"{condition.get('reason')}: {condition.get('message')}"
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") not in (None, "ContainerCreating", "PodInitializing"):
            return f"{waiting.get('reason')}: {waiting.get('message') or ''}".rstrip(": ")
    return None


def _terminated_message(pod: Manifest) -> str:
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        terminated = (container.get("state") or {}).get("terminated") or {}
        if terminated:
            text = (terminated.get("message") or "").strip()
            return text.splitlines()[-1] if text else f"exit code {terminated.get('exitCode')}"
    return (pod.get("status") or {}).get("message") or "no message"


def orphans(jobs: list[Manifest], now: datetime) -> list[str]:
    """The transfer Jobs that a killed client left suspended."""
    found = []
    for job in jobs:
        created = datetime.fromisoformat(str(job["metadata"]["creationTimestamp"]))
        if (job.get("spec") or {}).get("suspend") and (
            (now - created).total_seconds() > ORPHAN_SECONDS
        ):
            found.append(str(job["metadata"]["name"]))
    return found


def delete_orphans(kube: NamespaceApi) -> None:
    for name in orphans(kube.jobs(TRANSFER_SELECTOR), datetime.now(UTC)):
        kube.delete_job(name)


class TransferJob:
    def __init__(self, kube: NamespaceApi, manifest: Manifest) -> None:
        self.kube = kube
        self.manifest = manifest
        self.name: str = manifest["metadata"]["name"]
        self.created: Manifest | None = None
        self.handled: set[int] = set()

    def __enter__(self) -> "TransferJob":
        self.created = self.kube.create_job(self.manifest)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.kube.delete_job(self.name)

    @property
    def uid(self) -> str:
        assert self.created is not None
        return str(self.created["metadata"]["uid"])

    def resume(self) -> None:
        self.kube.resume_job(self.name)

    def wait(self, on_success: PodHandler | None = None) -> None:
        """Until the Job completes, handing each succeeded index's log to `on_success`
        as it comes; raises TransferFailed when it fails or cannot start."""
        selector = f"batch.kubernetes.io/controller-uid={self.uid}"
        started = time.monotonic()
        while True:
            job = self.kube.job(self.name)
            if job is None:
                raise TransferFailed(f"transfer Job {self.name} was deleted while it ran")
            pods = self.kube.pods(selector)
            if on_success is not None:
                self._collect(pods, on_success)
            failed = _condition(job, "Failed")
            if failed is not None:
                raise TransferFailed(self._failure(failed, pods))
            if _condition(job, "Complete") is not None:
                if on_success is not None:
                    self._collect(self.kube.pods(selector), on_success)
                return
            if time.monotonic() - started > START_TIMEOUT_SECONDS:
                self._check_started(pods)
            time.sleep(POLL_SECONDS)

    def _collect(self, pods: list[Manifest], on_success: PodHandler) -> None:
        for pod in pods:
            if (pod.get("status") or {}).get("phase") != "Succeeded":
                continue
            annotations = pod["metadata"].get("annotations") or {}
            index = int(annotations.get(INDEX_ANNOTATION, "0"))
            if index in self.handled:
                continue
            on_success(index, self.kube.log(pod["metadata"]["name"], CONTAINER).decode())
            self.handled.add(index)

    def _failure(self, condition: dict[str, Any], pods: list[Manifest]) -> str:
        failed = [p for p in pods if (p.get("status") or {}).get("phase") == "Failed"]
        why = _terminated_message(failed[-1]) if failed else condition.get("message") or ""
        return f"transfer Job {self.name} failed ({condition.get('reason')}): {why}"

    def _check_started(self, pods: list[Manifest]) -> None:
        """Raise when no Pod of the Job runs or ran after the start timeout."""
        phases = {(p.get("status") or {}).get("phase") for p in pods}
        if phases & {"Running", "Succeeded", "Failed"}:
            return
        reasons = [r for r in (_waiting(p) for p in pods) if r]
        for pod in pods:
            reasons.extend(self.kube.warnings("Pod", pod["metadata"]["name"]))
        if not pods:
            reasons.extend(self.kube.warnings("Job", self.name))
        said = "; ".join(dict.fromkeys(reasons)) or "the cluster says nothing about why"
        raise TransferFailed(
            f"transfer Job {self.name} has not started after {START_TIMEOUT_SECONDS:.0f}s: {said}"
        )
