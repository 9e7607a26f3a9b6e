"""The cluster's scheduler: binds each Pod that fits this node, explains those that do not.

It acts as system:kube-scheduler and reports as kube-scheduler does: a Pod that does
not fit keeps `PodScheduled=False`, reason `Unschedulable`, with the FitError message
(agent/scheduling.py) and a `FailedScheduling` Warning Event; a Pod that fits is bound
(the API server then sets `PodScheduled=True`) with a `Scheduled` Event. An unschedulable
Pod is tried again when its spec, the Node (labels, taints, cordon) or any claim
changes, and at least every RETRY_EVERY seconds, as the scheduler's queue does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

from .api import Api, ApiError, Obj
from .events import EventRecorder, reference
from .scheduling import unschedulable_message
from .status import now

log = logging.getLogger(__name__)

UNSCHEDULED = "spec.nodeName=,status.phase!=Succeeded,status.phase!=Failed"
SCHEDULER_NAME = "default-scheduler"
RETRY_EVERY = 60.0  # kube-scheduler's upper bound is 5 min; a test cluster can afford less
SCHEDULING_FIELDS = (
    "nodeSelector",
    "affinity",
    "tolerations",
    "volumes",
    "preemptionPolicy",
    "schedulingGates",
)


def _inputs(pod: Obj) -> str:
    """What of the Pod itself decides where it fits."""
    spec = pod["spec"]
    return json.dumps([spec.get(f) for f in SCHEDULING_FIELDS], sort_keys=True)


def _node_inputs(node: Obj) -> str:
    spec = node.get("spec", {})
    fields = [node["metadata"].get("labels"), spec.get("taints"), spec.get("unschedulable")]
    return json.dumps(fields, sort_keys=True)


class Scheduler:
    """Watches unscheduled Pods, this Node and all claims; schedules on every change."""

    def __init__(self, api: Api, node_name: str) -> None:
        self.api = api
        self.node_name = node_name
        self.events = EventRecorder(api, SCHEDULER_NAME, node_name)
        self.pods: dict[str, Obj] = {}
        self.node: Obj | None = None
        self.claims: dict[str, dict[str, Obj]] = {}
        self.world = 0  # bumped whenever the Node or a claim changes
        self.tried: dict[str, tuple[str, int, float]] = {}
        self.wake = asyncio.Event()

    async def run(self) -> None:
        await asyncio.gather(
            self.api.list_watch(
                "/api/v1/pods", {"fieldSelector": UNSCHEDULED}, self._pods_listed, self._pod
            ),
            self.api.list_watch(
                "/api/v1/nodes",
                {"fieldSelector": f"metadata.name={self.node_name}"},
                self._nodes_listed,
                self._node,
            ),
            self.api.list_watch(
                "/api/v1/persistentvolumeclaims", {}, self._claims_listed, self._claim
            ),
            self._loop(),
        )

    # --- caches ------------------------------------------------------------------------

    async def _pods_listed(self, pods: list[Obj]) -> None:
        self.pods = {p["metadata"]["uid"]: p for p in pods}
        self.tried = {uid: t for uid, t in self.tried.items() if uid in self.pods}
        self.wake.set()

    async def _pod(self, kind: str, pod: Obj) -> None:
        uid = pod["metadata"]["uid"]
        if kind == "DELETED":
            self.pods.pop(uid, None)
            self.tried.pop(uid, None)
        else:
            self.pods[uid] = pod
            self.wake.set()

    async def _nodes_listed(self, nodes: list[Obj]) -> None:
        self.node = None
        for node in nodes:
            await self._node("ADDED", node)

    async def _node(self, kind: str, node: Obj) -> None:
        before = None if self.node is None else _node_inputs(self.node)
        self.node = None if kind == "DELETED" else node
        if before is None or self.node is None or before != _node_inputs(node):
            self._changed()

    async def _claims_listed(self, claims: list[Obj]) -> None:
        self.claims = {}
        for claim in claims:
            await self._claim("ADDED", claim)

    async def _claim(self, kind: str, claim: Obj) -> None:
        meta = claim["metadata"]
        namespace = self.claims.setdefault(meta["namespace"], {})
        if kind == "DELETED":
            namespace.pop(meta["name"], None)
        else:
            namespace[meta["name"]] = claim
        self._changed()

    def _changed(self) -> None:
        self.world += 1
        self.wake.set()

    # --- scheduling --------------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), RETRY_EVERY)
            self.wake.clear()
            if self.node is not None:
                await self._pass(self.node)

    async def _pass(self, node: Obj) -> None:
        clock = asyncio.get_running_loop().time()
        pending = sorted(self.pods.values(), key=lambda p: p["metadata"]["creationTimestamp"])
        for pod in pending:
            if pod["metadata"]["uid"] not in self.pods:
                continue  # deleted during this pass
            uid, inputs = pod["metadata"]["uid"], _inputs(pod)
            last = self.tried.get(uid)
            if last and last[:2] == (inputs, self.world) and clock - last[2] < RETRY_EVERY:
                continue
            self.tried[uid] = (inputs, self.world, clock)
            try:
                await self._schedule(pod, node)
            except ApiError as err:
                log.warning("scheduling %s failed: %s", pod["metadata"]["name"], err)
                self.tried.pop(uid, None)

    async def _schedule(self, pod: Obj, node: Obj) -> None:
        meta, spec = pod["metadata"], pod["spec"]
        if meta.get("deletionTimestamp") or spec.get("schedulingGates"):
            return  # the API server reports SchedulingGated itself
        if spec.get("schedulerName", SCHEDULER_NAME) != SCHEDULER_NAME:
            return
        claims = self.claims.get(meta["namespace"], {})
        message = unschedulable_message(pod, node, claims)
        if message is None:
            await self._bind(pod)
        else:
            await self._unschedulable(pod, message)

    async def _bind(self, pod: Obj) -> None:
        meta = pod["metadata"]
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": meta["uid"]},
            "target": {"apiVersion": "v1", "kind": "Node", "name": self.node_name},
        }
        try:
            await self.api.post(
                f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/binding", binding
            )
        except ApiError as err:
            if err.status in (404, 409):
                return
            raise
        self.pods.pop(meta["uid"], None)
        message = f"Successfully assigned {meta['namespace']}/{meta['name']} to {self.node_name}"
        await self.events.emit(reference(pod), "Normal", "Scheduled", message)

    async def _unschedulable(self, pod: Obj, message: str) -> None:
        meta = pod["metadata"]
        await self.events.emit(reference(pod), "Warning", "FailedScheduling", message)
        conditions = pod.get("status", {}).get("conditions") or []
        old = next((c for c in conditions if c["type"] == "PodScheduled"), {})
        condition = {
            "type": "PodScheduled",
            "status": "False",
            "reason": "Unschedulable",
            "message": message,
        }
        if {k: old.get(k) for k in condition} == condition:
            return
        since = old.get("lastTransitionTime") if old.get("status") == "False" else None
        condition |= {"lastProbeTime": None, "lastTransitionTime": since or now()}
        await self.api.strategic_patch(
            f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status",
            {"metadata": {"uid": meta["uid"]}, "status": {"conditions": [condition]}},
        )
