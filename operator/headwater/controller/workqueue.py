"""The queue of objects to look at, and the threads that look.

Every event, timer and resync only adds a key here; worker threads take keys and
reconcile them. The queue gives what a controller needs and a lock per object cannot:

- a key is queued once however many events name it (a fan-out's hundred Job events
  become one reconcile);
- a key is never handed to two workers at once; one added while it is being worked on
  is worked on again afterwards, so no change is missed;
- namespaces take turns, so a namespace with thousands of Runs cannot keep another's
  Runs waiting;
- delays (a timeout, a TTL, a retry after an error) live in one heap served by one
  thread, not a thread per Run; the soonest wake-up of a key wins.
"""

import heapq
import itertools
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

Key = tuple[str, str, str]
"""(kind, namespace, name)."""

RETRY_BASE_SECONDS = 0.5
RETRY_MAX_SECONDS = 60.0


class WorkQueue:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Condition()
        self._by_namespace: OrderedDict[str, deque[Key]] = OrderedDict()
        self._queued: set[Key] = set()
        self._processing: set[Key] = set()
        self._again: set[Key] = set()
        self._delayed: list[tuple[float, int, Key]] = []
        self._due: dict[Key, float] = {}
        self._sequence = itertools.count()
        self._failures: dict[Key, int] = {}
        self._closed = False

    def add(self, key: Key) -> None:
        """Look at `key` as soon as a worker is free."""
        with self._lock:
            self._add(key)

    def _add(self, key: Key) -> None:
        if self._closed or key in self._queued:
            return
        if key in self._processing:
            self._again.add(key)
            return
        self._queued.add(key)
        self._by_namespace.setdefault(key[1], deque()).append(key)
        self._lock.notify()

    def add_after(self, key: Key, seconds: float) -> None:
        """Look at `key` in `seconds`, or sooner if something else asks."""
        if seconds <= 0:
            self.add(key)
            return
        with self._lock:
            due = self._clock() + seconds
            if self._due.get(key, float("inf")) <= due:
                return
            self._due[key] = due
            heapq.heappush(self._delayed, (due, next(self._sequence), key))
            self._lock.notify_all()

    def retry(self, key: Key) -> None:
        """After a failed reconcile: again later, waiting longer each time."""
        with self._lock:
            failures = self._failures.get(key, 0) + 1
            self._failures[key] = failures
        self.add_after(key, min(RETRY_BASE_SECONDS * 2 ** (failures - 1), RETRY_MAX_SECONDS))

    def succeeded(self, key: Key) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def get(self, timeout: float | None = None) -> Key | None:
        """The next key to work on, namespaces in turn; None when closed or timed out."""
        deadline = None if timeout is None else self._clock() + timeout
        with self._lock:
            while True:
                self._release_due()
                if self._closed:
                    return None
                if self._by_namespace:
                    namespace, keys = next(iter(self._by_namespace.items()))
                    key = keys.popleft()
                    # The namespace goes to the back of the line, so the next one turns.
                    del self._by_namespace[namespace]
                    if keys:
                        self._by_namespace[namespace] = keys
                    self._queued.discard(key)
                    self._processing.add(key)
                    return key
                wait = self._next_wait(deadline)
                if wait is not None and wait <= 0:
                    return None
                self._lock.wait(wait)

    def done(self, key: Key) -> None:
        """The worker finished `key`; it is queued again if it was added meanwhile."""
        with self._lock:
            self._processing.discard(key)
            if key in self._again:
                self._again.discard(key)
                self._add(key)

    def forget(self, key: Key) -> None:
        """Drop pending delays and failure counts of a deleted object."""
        with self._lock:
            self._due.pop(key, None)
            self._failures.pop(key, None)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify_all()

    def __len__(self) -> int:
        with self._lock:
            return len(self._queued)

    def _release_due(self) -> None:
        moment = self._clock()
        while self._delayed and self._delayed[0][0] <= moment:
            due, _, key = heapq.heappop(self._delayed)
            if self._due.get(key) == due:
                del self._due[key]
                self._add(key)

    def _next_wait(self, deadline: float | None) -> float | None:
        moment = self._clock()
        waits = []
        if self._delayed:
            waits.append(self._delayed[0][0] - moment)
        if deadline is not None:
            waits.append(deadline - moment)
        return max(0.0, min(waits)) if waits else None


@dataclass
class Workers:
    """Threads that take keys from the queue and hand them to `handle`; a key whose
    handling raises is retried with back-off, never dropped."""

    queue: WorkQueue
    handle: Callable[[Key], None]
    count: int = 4
    threads: list[threading.Thread] = field(default_factory=list)
    busy_since: dict[str, float] = field(default_factory=dict)
    """Thread name → when it took its current key, for the health check."""

    def start(self) -> None:
        for index in range(self.count):
            thread = threading.Thread(
                target=self._loop, name=f"headwater-worker-{index}", daemon=True
            )
            self.threads.append(thread)
            thread.start()

    def stop(self, timeout: float) -> None:
        self.queue.close()
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def longest_busy(self) -> float:
        """Seconds the longest-running reconcile has been going, 0 when all are idle."""
        moment = time.monotonic()
        return max((moment - since for since in list(self.busy_since.values())), default=0.0)

    def _loop(self) -> None:
        name = threading.current_thread().name
        while True:
            key = self.queue.get()
            if key is None:
                return
            self.busy_since[name] = time.monotonic()
            try:
                self.handle(key)
            except Exception:
                log.exception("reconcile of %s %s/%s failed; retrying", *key)
                self.queue.retry(key)
            else:
                self.queue.succeeded(key)
            finally:
                self.busy_since.pop(name, None)
                self.queue.done(key)
