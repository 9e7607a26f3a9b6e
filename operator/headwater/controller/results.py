"""The namespace's result cache in a cluster: one ConfigMap per Run that used the cache,
owned by that Run, listing the results it computed by fingerprint. Deleting a Run (or its
TTL) drops its entries with it, so an entry never points at outputs a Run of the same
name may since have overwritten; `headwater cache clear` deletes the ConfigMaps.

The operator cannot look inside a PVC store, and needs no look: the entries are in the
API, watched by label like the snapshots, and a cache hit costs no request at all.
"""

import json
import threading
from datetime import datetime

from pydantic import BaseModel, ValidationError

from headwater.api import Run, RunStatus, now
from headwater.controller.cache import ObjectCache
from headwater.controller.kube import Manifest
from headwater.controller.naming import bounded, labels, owner_reference
from headwater.graph import Graph
from headwater.reuse import CacheEntry, offers
from headwater.snapshot import Snapshot

COMPONENT = "cache"
ENTRIES_KEY = "entries.json"
KIND = "configmaps"
"""How the cached ConfigMaps are kept in the operator's ObjectCache."""


class Entry(BaseModel):
    node: str
    function: str
    outputs: list[str]
    finished_at: datetime


def config_map_name(run: str) -> str:
    return bounded(run, "cache", limit=253)


def entries_config_map(
    run: Run, snapshot: Snapshot, graph: Graph, status: RunStatus, store_root: str
) -> Manifest | None:
    """The ConfigMap offering what `run` computed (not what it reused) to later Runs;
    None when it computed nothing cacheable."""
    entries = {
        offer.digest: Entry(
            node=offer.node,
            function=offer.function,
            outputs=offer.outputs,
            finished_at=offer.finished_at,
        ).model_dump(mode="json", by_alias=True)
        for offer in offers(run, snapshot, graph, status, store_root, now())
    }
    if not entries:
        return None
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": config_map_name(run.metadata.name),
            "namespace": run.metadata.namespace,
            "labels": labels(run, component=COMPONENT),
            "ownerReferences": [owner_reference(run)],
        },
        "data": {ENTRIES_KEY: json.dumps(entries, sort_keys=True, separators=(",", ":"))},
    }


class Offers:
    """The cache entries of a namespace, parsed once per ConfigMap version."""

    def __init__(self, cache: ObjectCache) -> None:
        self.cache = cache
        self._parsed: dict[tuple[str, str], tuple[str, dict[str, CacheEntry]]] = {}
        self._lock = threading.Lock()

    def of(self, namespace: str) -> dict[str, CacheEntry]:
        """Fingerprint digest → entry, from ConfigMaps whose Run still exists; of two
        Runs that computed the same result, the one that finished last (the cache holds
        ConfigMaps in no useful order: a LIST gives them by name)."""
        offers: dict[str, CacheEntry] = {}
        for body in self.cache.items(KIND, namespace):
            metadata = body["metadata"]
            owner = next(iter(metadata.get("ownerReferences") or []), {})
            run = self.cache.get("runs", namespace, owner.get("name", ""))
            if run is None or run["metadata"].get("uid") != owner.get("uid"):
                continue  # its Run is gone (or made again): its outputs may be too
            for digest, entry in self._entries(body, owner["name"]).items():
                held = offers.get(digest)
                if held is None or entry.finished_at > held.finished_at:
                    offers[digest] = entry
        return offers

    def _entries(self, body: Manifest, run: str) -> dict[str, CacheEntry]:
        metadata = body["metadata"]
        key = (metadata["namespace"], metadata["name"])
        version = metadata.get("resourceVersion", "")
        with self._lock:
            held = self._parsed.get(key)
            if held is not None and held[0] == version:
                return held[1]
        try:
            raw = json.loads((body.get("data") or {}).get(ENTRIES_KEY, "{}"))
            parsed = {
                digest: CacheEntry(run, e.node, e.outputs, e.finished_at)
                for digest, item in raw.items()
                if (e := Entry.model_validate(item))
            }
        except (ValueError, ValidationError):
            parsed = {}
        with self._lock:
            self._parsed[key] = (version, parsed)
        return parsed
