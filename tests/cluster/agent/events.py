"""Events as client-go's recorder writes them: a repeat of the same event bumps `count`.

A kubelet, scheduler or provisioner that retries a failing step reports the same
(object, type, reason, message) again and again; client-go's correlator turns those into
one Event whose `count` and `lastTimestamp` grow instead of a new object per attempt.
Event errors are logged and dropped: reporting must never stop the work it reports on.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass

from .api import Api, ApiError, Obj

log = logging.getLogger(__name__)

CACHE_SIZE = 4096  # client-go's correlator keeps an LRU of this many events
NOTE_LIMIT = 1024


def _stamp() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def reference(obj: Obj, field_path: str | None = None) -> Obj:
    """The involvedObject of an Event about `obj` (a container when `field_path` is set)."""
    meta = obj["metadata"]
    ref: Obj = {
        "apiVersion": obj.get("apiVersion", "v1"),
        "kind": obj.get("kind", "Pod"),
        "name": meta["name"],
        "uid": meta["uid"],
    }
    if meta.get("namespace"):
        ref["namespace"] = meta["namespace"]
    if meta.get("resourceVersion"):
        ref["resourceVersion"] = meta["resourceVersion"]
    if field_path:
        ref["fieldPath"] = field_path
    return ref


@dataclass
class _Seen:
    name: str
    namespace: str
    count: int


class EventRecorder:
    """Writes core/v1 Events as `component` on `host`, aggregating repeats."""

    def __init__(self, api: Api, component: str, host: str) -> None:
        self.api = api
        self.component = component
        self.host = host
        self._seen: OrderedDict[tuple[str, ...], _Seen] = OrderedDict()

    async def emit(self, ref: Obj, kind: str, reason: str, message: str) -> None:
        message = message[:NOTE_LIMIT]
        key = (ref["uid"], ref.get("fieldPath", ""), kind, reason, message)
        seen = self._seen.get(key)
        try:
            if seen is not None:
                self._seen.move_to_end(key)
                if await self._bump(seen):
                    return
            self._seen[key] = await self._create(ref, kind, reason, message)
            while len(self._seen) > CACHE_SIZE:
                self._seen.popitem(last=False)
        except Exception as err:
            log.warning("event %s %s for %s failed: %s", kind, reason, ref.get("name"), err)

    async def _bump(self, seen: _Seen) -> bool:
        """Count one more occurrence; False when the Event is gone (expired, deleted)."""
        path = f"/api/v1/namespaces/{seen.namespace}/events/{seen.name}"
        try:
            await self.api.merge_patch(path, {"count": seen.count + 1, "lastTimestamp": _stamp()})
        except ApiError as err:
            if err.status == 404:
                return False
            raise
        seen.count += 1
        return True

    async def _create(self, ref: Obj, kind: str, reason: str, message: str) -> _Seen:
        namespace = ref.get("namespace") or "default"
        stamp = _stamp()
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{ref['name']}.{time.time_ns():x}", "namespace": namespace},
            "involvedObject": ref,
            "type": kind,
            "reason": reason,
            "message": message,
            "source": {"component": self.component, "host": self.host},
            "reportingComponent": self.component,
            "reportingInstance": self.host,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
        created = await self.api.post(f"/api/v1/namespaces/{namespace}/events", event)
        return _Seen(created["metadata"]["name"], namespace, 1)
