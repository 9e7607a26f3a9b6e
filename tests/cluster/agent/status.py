"""Pod status as a kubelet reports it, computed from the agent's view of the containers."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]
TERMINAL = ("Succeeded", "Failed")
OWN_CONDITIONS = (
    "PodScheduled",
    "PodReadyToStartContainers",
    "Initialized",
    "ContainersReady",
    "Ready",
)


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ContainerStatus:
    """What the agent knows about one (init) container."""

    name: str
    image: str
    state: Obj = field(default_factory=lambda: {"waiting": {"reason": "PodInitializing"}})
    last_state: Obj = field(default_factory=dict)
    restart_count: int = 0
    started: bool = False
    pid: int | None = None

    @property
    def running(self) -> bool:
        return "running" in self.state

    @property
    def terminated(self) -> Obj | None:
        return self.state.get("terminated")

    def to_api(self) -> Obj:
        status: Obj = {
            "name": self.name,
            "image": self.image,
            "imageID": "",
            "state": self.state,
            "lastState": self.last_state,
            "ready": self.running,
            "restartCount": self.restart_count,
            "started": self.running,
        }
        if self.pid is not None:
            status["containerID"] = f"headwater://{self.pid}"
        return status


@dataclass
class PodView:
    """The inputs of a status computation."""

    phase: str
    start_time: str
    sandbox_ready: bool
    initialized: bool
    init_containers: list[ContainerStatus]
    containers: list[ContainerStatus]
    reason: str | None = None
    message: str | None = None


def _condition(kind: str, ok: bool, reason: str | None, previous: dict[str, Obj]) -> Obj:
    status = "True" if ok else "False"
    old = previous.get(kind)
    since = old["lastTransitionTime"] if old and old.get("status") == status else now()
    condition: Obj = {
        "type": kind,
        "status": status,
        "lastProbeTime": None,
        "lastTransitionTime": since,
    }
    if reason and not ok:
        condition["reason"] = reason
    return condition


def pod_status(view: PodView, current: Obj) -> Obj:
    """The `status` to patch onto the Pod, keeping conditions the agent does not own."""
    existing = current.get("conditions") or []
    previous = {c["type"]: c for c in existing}
    terminal = view.phase in TERMINAL
    ready = not terminal and bool(view.containers) and all(c.running for c in view.containers)
    not_ready = "PodCompleted" if terminal else "ContainersNotReady"
    conditions = [c for c in existing if c["type"] not in OWN_CONDITIONS]
    conditions += [
        _condition(
            "PodReadyToStartContainers", view.sandbox_ready and not terminal, None, previous
        ),
        _condition("Initialized", view.initialized, "ContainersNotInitialized", previous),
        _condition("ContainersReady", ready, not_ready, previous),
        _condition("Ready", ready, not_ready, previous),
        _condition("PodScheduled", True, None, previous),
    ]
    status: Obj = {
        "phase": view.phase,
        "conditions": conditions,
        "hostIP": "127.0.0.1",
        "hostIPs": [{"ip": "127.0.0.1"}],
        "podIP": "127.0.0.1",
        "podIPs": [{"ip": "127.0.0.1"}],
        "startTime": view.start_time,
        "containerStatuses": [c.to_api() for c in view.containers],
        "reason": view.reason,
        "message": view.message,
    }
    if view.init_containers:
        status["initContainerStatuses"] = [c.to_api() for c in view.init_containers]
    return status
