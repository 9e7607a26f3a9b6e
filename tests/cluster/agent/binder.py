"""Bind unscheduled Pods to this node: the cluster has no scheduler."""

from __future__ import annotations

import logging

from .api import Api, ApiError, Obj

log = logging.getLogger(__name__)

UNSCHEDULED = "spec.nodeName=,status.phase!=Succeeded,status.phase!=Failed"


class Binder:
    """Watches Pods without a node and binds each, as system:kube-scheduler."""

    def __init__(self, api: Api, node_name: str) -> None:
        self.api = api
        self.node_name = node_name

    async def run(self) -> None:
        await self.api.list_watch(
            "/api/v1/pods", {"fieldSelector": UNSCHEDULED}, self._on_list, self._on_event
        )

    async def _on_list(self, pods: list[Obj]) -> None:
        for pod in pods:
            await self.bind(pod)

    async def _on_event(self, kind: str, pod: Obj) -> None:
        if kind in ("ADDED", "MODIFIED"):
            await self.bind(pod)

    async def bind(self, pod: Obj) -> None:
        meta = pod["metadata"]
        if pod["spec"].get("nodeName") or meta.get("deletionTimestamp"):
            return
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
            if err.status not in (404, 409):
                log.warning("binding %s/%s failed: %s", meta["namespace"], meta["name"], err)
