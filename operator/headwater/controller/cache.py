"""What the watches have shown of the objects the operator reads, so that a reconcile
reads memory instead of the API server.

Fed four ways: a LIST of each kind when the operator starts (before any reconcile, so
no Run is judged on a half-filled cache) and again every few minutes (a deletion that
happened between that LIST and the start of a watch is never an event), every watch
event, and our own writes: the objects the API server returns, and our deletions (so
a reconcile right after a write sees it).
A body older than the one held is ignored: watch events of our own writes arrive after
the write's response did.
"""

import threading
from collections import defaultdict
from typing import Any

from headwater.controller.naming import RUN_LABEL

Manifest = dict[str, Any]
Key = tuple[str, str]
"""(namespace, name)."""

RUN_SCOPED = ("jobs", "pods")
"""Kinds indexed by the Run that labels them."""


def slim(kind: str, body: Manifest) -> Manifest:
    """What the operator reads of a body: managedFields never, a Job's Pod template
    never (it can be kilobytes, and thousands of Jobs are cached)."""
    metadata = {k: v for k, v in (body.get("metadata") or {}).items() if k != "managedFields"}
    kept: Manifest = {**body, "metadata": metadata}
    if kind == "jobs":
        spec = body.get("spec") or {}
        kept["spec"] = {k: v for k, v in spec.items() if k != "template"}
    elif kind == "pods":
        kept.pop("spec", None)
    return kept


def newer(incoming: Manifest, held: Manifest | None) -> bool:
    """True when `incoming` is a later version than the one held (or another object by
    the same name). resourceVersions are etcd revisions; when either is not a number,
    the newcomer wins. The same version again (the watch event of our own write) is not
    news."""
    if held is None:
        return True
    if (incoming["metadata"].get("uid") or "") != (held["metadata"].get("uid") or ""):
        return True
    try:
        return int(incoming["metadata"]["resourceVersion"]) > int(
            held["metadata"]["resourceVersion"]
        )
    except (KeyError, TypeError, ValueError):
        return True


class ObjectCache:
    """Bodies by kind and (namespace, name); Jobs and Pods also by their Run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: defaultdict[str, dict[Key, Manifest]] = defaultdict(dict)
        self._by_run: defaultdict[str, defaultdict[Key, set[str]]] = defaultdict(
            lambda: defaultdict(set)
        )

    def put(self, kind: str, body: Manifest) -> bool:
        """Hold `body` if it is news (see `newer`); True when it was taken."""
        body = slim(kind, body)
        key = (body["metadata"].get("namespace") or "", body["metadata"]["name"])
        with self._lock:
            held = self._objects[kind].get(key)
            if not newer(body, held):
                return False
            if held is not None:
                self._unindex(kind, key, held)
            self._objects[kind][key] = body
            self._index(kind, key, body)
            return True

    def remove(self, kind: str, namespace: str, name: str) -> None:
        with self._lock:
            held = self._objects[kind].pop((namespace, name), None)
            if held is not None:
                self._unindex(kind, (namespace, name), held)

    def replace(
        self,
        kind: str,
        bodies: list[Manifest],
        listed_at: str | None = None,
        namespace: str | None = None,
    ) -> None:
        """Everything of `kind` (in `namespace`, or all) as a LIST showed it at
        resourceVersion `listed_at`: a held version newer than the listed one stays, and
        an object the LIST does not show is dropped unless it was made after the LIST."""
        listed = {(b["metadata"].get("namespace") or "", b["metadata"]["name"]) for b in bodies}
        for body in bodies:
            self.put(kind, body)
        with self._lock:
            for key, held in list(self._objects[kind].items()):
                if namespace is not None and key[0] != namespace:
                    continue
                if key not in listed and not _after(held, listed_at):
                    del self._objects[kind][key]
                    self._unindex(kind, key, held)

    def get(self, kind: str, namespace: str, name: str) -> Manifest | None:
        with self._lock:
            return self._objects[kind].get((namespace, name))

    def items(self, kind: str, namespace: str | None = None) -> list[Manifest]:
        """Every object of `kind`, in one namespace or all."""
        with self._lock:
            return [
                body
                for (ns, _), body in self._objects[kind].items()
                if namespace is None or ns == namespace
            ]

    def of_run(self, kind: str, namespace: str, run: str) -> list[Manifest]:
        """The Jobs or Pods labelled with a Run."""
        with self._lock:
            names = self._by_run[kind].get((namespace, run), set())
            return [self._objects[kind][(namespace, n)] for n in sorted(names)]

    def _index(self, kind: str, key: Key, body: Manifest) -> None:
        run = _run_of(kind, body)
        if run is not None:
            self._by_run[kind][(key[0], run)].add(key[1])

    def _unindex(self, kind: str, key: Key, body: Manifest) -> None:
        run = _run_of(kind, body)
        if run is None:
            return
        names = self._by_run[kind].get((key[0], run))
        if names is not None:
            names.discard(key[1])
            if not names:
                del self._by_run[kind][(key[0], run)]


def _after(body: Manifest, listed_at: str | None) -> bool:
    try:
        return int(body["metadata"]["resourceVersion"]) > int(listed_at or "")
    except (KeyError, TypeError, ValueError):
        return False


def _run_of(kind: str, body: Manifest) -> str | None:
    if kind not in RUN_SCOPED:
        return None
    return (body["metadata"].get("labels") or {}).get(RUN_LABEL)
