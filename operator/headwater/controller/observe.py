"""A node's state as its Job and Pods show it: pure, no API calls.

Besides Succeeded/Failed/Running this reads what a person would look for in
`kubectl describe pod`: a Pod that cannot be scheduled, an image that cannot be pulled,
a ConfigMap or Secret that is missing, and an attempt that failed while the Job retries.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from headwater.api import NodePhase
from headwater.controller.naming import CONTAINER
from headwater.engine import ObservedNode, retrying
from headwater.runner.result import RunnerResult, parse_result

Manifest = dict[str, Any]

FATAL_WAITING = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "CreateContainerConfigError",
        "CreateContainerError",
    }
)
"""Container waiting reasons that do not clear by themselves: after a grace period the
node fails instead of showing Running until the run's timeout."""
CREATING = "ContainerCreating"
"""Waiting to mount volumes (or pull): fatal only when a FailedMount warning says why."""


@dataclass(frozen=True)
class PodTrouble:
    """Why a node's Pod has not started its container."""

    pod: str
    reason: str
    """Unschedulable, a container waiting reason (ImagePullBackOff, …)."""
    message: str
    since: datetime | None
    """When the trouble began, as far as the Pod shows (its condition's transition, else
    when the Pod was made)."""
    fatal: bool
    """An error state, not merely a slow start."""

    def describe(self) -> str:
        return f"{self.reason}: {self.message}" if self.message else self.reason


def observe_job(job: Manifest, pods: list[Manifest], retries: int) -> ObservedNode:
    """The node's state; a running node's message says what holds it up or which
    attempt failed while the Job retries."""
    status = job.get("status") or {}
    conditions = {c["type"]: c for c in status.get("conditions") or [] if c.get("status") == "True"}
    newest = max(pods, key=_created, default=None)
    terminated = _terminated(newest) if newest else {}
    result = _result(terminated.get("message"))
    failed_attempts = int(status.get("failed", 0))
    attempts = failed_attempts + int(status.get("succeeded", 0)) + int(status.get("active", 0))
    name = job["metadata"]["name"]
    started = _time(status.get("startTime"))
    if "Complete" in conditions:
        return ObservedNode(
            NodePhase.SUCCEEDED,
            attempts=max(attempts, 1),
            exit_code=terminated.get("exitCode", 0),
            message=result.message or None,
            started_at=started,
            finished_at=_time(status.get("completionTime"))
            or _time(conditions["Complete"].get("lastTransitionTime")),
            outputs=result.outputs or None,
            values=result.values or None,
            job=name,
        )
    if "Failed" in conditions:
        failed = conditions["Failed"]
        message = result.message or _job_failure(failed, terminated)
        return ObservedNode(
            NodePhase.FAILED,
            attempts=max(attempts, 1),
            exit_code=terminated.get("exitCode"),
            message=message,
            started_at=started,
            finished_at=_time(failed.get("lastTransitionTime")),
            job=name,
        )
    trouble = pod_trouble(newest) if newest else None
    message = None
    if trouble is not None and trouble.fatal:
        # A container being created is how every Pod starts: saying so would cost two
        # status writes per node. The reconciler names it once it lasts.
        message = f"waiting: {trouble.describe()}"
    elif failed_attempts:
        message = _retrying(pods, failed_attempts, retries)
    return ObservedNode(
        NodePhase.RUNNING,
        attempts=max(attempts, 1),
        started_at=started,
        job=name,
        message=message,
    )


def pod_trouble(pod: Manifest) -> PodTrouble | None:
    """What keeps a Pod from running its container, if anything."""
    status = pod.get("status") or {}
    name = pod["metadata"]["name"]
    if status.get("phase") not in (None, "Pending"):
        return None
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return PodTrouble(
                name,
                condition.get("reason") or "Unschedulable",
                condition.get("message") or "",
                _time(condition.get("lastTransitionTime")) or _time(_created(pod)),
                fatal=True,
            )
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting")
        if not waiting or container.get("name") != CONTAINER:
            continue
        reason = waiting.get("reason") or ""
        if reason in FATAL_WAITING or reason == CREATING:
            return PodTrouble(
                name,
                reason,
                waiting.get("message") or "",
                _time(_created(pod)),
                fatal=reason in FATAL_WAITING,
            )
    return None


def _retrying(pods: list[Manifest], failed_attempts: int, retries: int) -> str:
    failed_pods = [p for p in pods if (_terminated(p).get("exitCode") or 0) != 0]
    last = max(failed_pods, key=_created, default=None)
    why = _result(_terminated(last).get("message")).message if last else ""
    return retrying(failed_attempts, retries, why)


def _created(pod: Manifest) -> str:
    return str(pod["metadata"].get("creationTimestamp") or "")


def _terminated(pod: Manifest) -> Manifest:
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        if container.get("name") == CONTAINER:
            return (container.get("state") or {}).get("terminated") or {}
    return {}


def _result(message: str | None) -> RunnerResult:
    """The runner's result, from the termination message; other text (a log tail when
    the runner died before writing it) becomes the message."""
    parsed = parse_result(message)
    if parsed is not None:
        return parsed
    lines = (message or "").strip().splitlines()
    return RunnerResult(exit_code=-1, message=lines[-1] if lines else "")


def _job_failure(condition: Manifest, terminated: Manifest) -> str:
    reason = condition.get("reason") or "Failed"
    detail = condition.get("message") or ""
    if terminated.get("reason") and terminated.get("reason") not in detail:
        detail = f"{detail} (container {terminated['reason']})".strip()
    return f"{reason}: {detail}" if detail else reason


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
