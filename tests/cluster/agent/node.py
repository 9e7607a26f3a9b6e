"""Register the Node, keep its Ready condition fresh and renew its Lease."""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import platform

from .api import Api, ApiError, Obj
from .config import AgentConfig
from .status import now

log = logging.getLogger(__name__)

LEASE_SECONDS = 40
RENEW_EVERY = 10.0
STATUS_EVERY = 20.0


def _memory_ki() -> str:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return f"{line.split()[1]}Ki"
    return "8Gi"


def _conditions() -> list[Obj]:
    stamp = now()
    healthy = [
        ("MemoryPressure", "KubeletHasSufficientMemory"),
        ("DiskPressure", "KubeletHasNoDiskPressure"),
        ("PIDPressure", "KubeletHasSufficientPID"),
    ]
    conditions = [
        {
            "type": kind,
            "status": "False",
            "reason": reason,
            "lastHeartbeatTime": stamp,
            "lastTransitionTime": stamp,
        }
        for kind, reason in healthy
    ]
    conditions.append(
        {
            "type": "Ready",
            "status": "True",
            "reason": "KubeletReady",
            "message": "headwater test node agent is posting ready status",
            "lastHeartbeatTime": stamp,
            "lastTransitionTime": stamp,
        }
    )
    return conditions


class NodeKeeper:
    """Owns this agent's Node object and Lease."""

    def __init__(self, api: Api, config: AgentConfig) -> None:
        self.api = api
        self.config = config
        self.name = config.node_name
        self.version = "v0.0.0"

    def _status(self) -> Obj:
        resources = {
            "cpu": str(os.cpu_count() or 1),
            "memory": _memory_ki(),
            "pods": "110",
            "ephemeral-storage": "100Gi",
        }
        return {
            "capacity": resources,
            "allocatable": resources,
            "conditions": _conditions(),
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": self.name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.config.kubelet_port}},
            "nodeInfo": {
                "kubeletVersion": self.version,
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": "amd64",
                "containerRuntimeVersion": "headwater-agent://0.1",
                "kernelVersion": platform.release(),
                "osImage": "headwater test node",
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
            },
        }

    async def register(self) -> None:
        """Create the Node (or take over an existing one) and report it Ready."""
        self.version = (await self.api.get("/version")).get("gitVersion", self.version)
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.name,
                "labels": {
                    "kubernetes.io/hostname": self.name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                },
            },
        }
        try:
            await self.api.post("/api/v1/nodes", node)
        except ApiError as err:
            if err.status != 409:
                raise
        await self.post_status()
        await self.renew_lease()

    async def post_status(self) -> None:
        await self.api.merge_patch(f"/api/v1/nodes/{self.name}/status", {"status": self._status()})

    async def renew_lease(self) -> None:
        path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{self.name}"
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        spec = {
            "holderIdentity": self.name,
            "leaseDurationSeconds": LEASE_SECONDS,
            "renewTime": stamp,
        }
        try:
            await self.api.merge_patch(path, {"spec": spec})
        except ApiError as err:
            if err.status != 404:
                raise
            await self.api.post(
                "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
                {
                    "apiVersion": "coordination.k8s.io/v1",
                    "kind": "Lease",
                    "metadata": {"name": self.name, "namespace": "kube-node-lease"},
                    "spec": spec,
                },
            )

    async def run(self) -> None:
        """Heartbeat forever; errors are logged and retried."""
        last_status = asyncio.get_running_loop().time()
        while True:
            await asyncio.sleep(RENEW_EVERY)
            try:
                await self.renew_lease()
                if asyncio.get_running_loop().time() - last_status >= STATUS_EVERY:
                    await self.post_status()
                    last_status = asyncio.get_running_loop().time()
            except Exception as err:
                log.warning("node heartbeat failed: %s", err)
