"""Watch the Pods bound to this node and keep one PodWorker per Pod (level-triggered)."""

from __future__ import annotations

import asyncio
import logging

from .api import Obj
from .pod import AgentContext, PodWorker

log = logging.getLogger(__name__)


class PodManager:
    """Dispatches Pod objects to their workers."""

    def __init__(self, ctx: AgentContext) -> None:
        self.ctx = ctx
        self.workers: dict[str, PodWorker] = {}

    async def run(self) -> None:
        selector = f"spec.nodeName={self.ctx.config.node_name}"
        await self.ctx.api.list_watch(
            "/api/v1/pods", {"fieldSelector": selector}, self._on_list, self._on_event
        )

    def find(self, namespace: str, name: str) -> PodWorker | None:
        matches = [w for w in self.workers.values() if (w.namespace, w.name) == (namespace, name)]
        return next((w for w in matches if not w.gone), matches[-1] if matches else None)

    async def _on_list(self, pods: list[Obj]) -> None:
        present = set()
        for pod in pods:
            present.add(pod["metadata"]["uid"])
            self._sync(pod)
        for uid, worker in list(self.workers.items()):
            if uid not in present:
                self._remove(worker)

    async def _on_event(self, kind: str, pod: Obj) -> None:
        uid = pod["metadata"]["uid"]
        if kind == "DELETED":
            if uid in self.workers:
                self._remove(self.workers[uid])
        else:
            self._sync(pod)

    def _sync(self, pod: Obj) -> None:
        uid = pod["metadata"]["uid"]
        worker = self.workers.get(uid)
        if worker is None:
            worker = PodWorker(self.ctx, pod, self._done)
            self.workers[uid] = worker
            worker.update(pod)
            worker.start()
        else:
            worker.update(pod)

    def _remove(self, worker: PodWorker) -> None:
        worker.remove()
        if worker.task is not None and worker.task.done():
            self._done(worker)

    def _done(self, worker: PodWorker) -> None:
        if worker.gone:
            self.workers.pop(worker.uid, None)
            worker.cleanup_logs()

    async def shutdown(self, grace: float = 2.0) -> None:
        """Stop every Pod's processes without touching the API (the cluster is going away)."""
        tasks = [w.task for w in self.workers.values() if w.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        procs = [p for w in self.workers.values() for p in w.processes.values()]
        await asyncio.gather(*(p.stop(grace) for p in procs), return_exceptions=True)
