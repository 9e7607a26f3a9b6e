"""Leader election over a coordination.k8s.io Lease, so that two or more replicas can
run and exactly one reconciles.

As client-go does, expiry is judged by this process's own clock from when it last saw
the Lease change, never by comparing clocks with the holder's `renewTime`. The leader
renews every `retry_seconds`; if it cannot renew for `renew_deadline_seconds` it stops
leading at once (the caller exits), before any other replica may take over at
`lease_seconds`. Deterministic Job names and optimistic status writes cover the short
overlap a paused process could still cause.
"""

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from kubernetes import client
from kubernetes.client.exceptions import ApiException

log = logging.getLogger(__name__)


def identity() -> str:
    """Unique per process: the Pod's name (its hostname) and a random suffix."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def _micro_time() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Sightings:
    """When this process last saw the Lease's record (holder, renewTime) change, by its
    own clock: clocks of two machines are never compared."""

    lease_seconds: float
    record: tuple[str, str] | None = None
    changed_at: float = 0.0

    def may_take(self, holder: str, renewed: str, me: str, moment: float) -> bool:
        """Whether `me` may write the Lease at `moment`: it holds it, nobody does, or
        the holder's record has stayed the same for a whole lease."""
        if (holder, renewed) != self.record:
            self.record, self.changed_at = (holder, renewed), moment
        return holder in ("", me) or moment - self.changed_at >= self.lease_seconds


def overdue(renewed_at: float, moment: float, renew_deadline_seconds: float) -> bool:
    """Whether a leader that last renewed at `renewed_at` must stop leading."""
    return moment - renewed_at >= renew_deadline_seconds


@dataclass
class LeaseElector:
    api: client.CoordinationV1Api
    namespace: str
    name: str
    holder: str = field(default_factory=identity)
    lease_seconds: float = 8.0
    renew_deadline_seconds: float = 5.0
    retry_seconds: float = 1.0
    clock: Callable[[], float] = time.monotonic
    _seen: Sightings = field(init=False)
    _renewed_at: float = 0.0

    def __post_init__(self) -> None:
        self._seen = Sightings(self.lease_seconds)

    def try_acquire_or_renew(self) -> bool:
        """One attempt: True when this process holds the Lease afterwards."""
        try:
            lease = self.api.read_namespaced_lease(self.name, self.namespace)
        except ApiException as error:
            if error.status != 404:
                raise
            return self._create()
        spec = lease.spec
        holder = spec.holder_identity or ""
        moment = self.clock()
        renewed = str(spec.renew_time or spec.acquire_time or "")
        if not self._seen.may_take(holder, renewed, self.holder, moment):
            return False
        if holder != self.holder:
            spec.acquire_time = _micro_time()
            spec.lease_transitions = (spec.lease_transitions or 0) + 1
            log.info("taking the lease %s/%s from %r", self.namespace, self.name, holder)
        spec.holder_identity = self.holder
        spec.lease_duration_seconds = int(self.lease_seconds)
        spec.renew_time = _micro_time()
        try:
            self.api.replace_namespaced_lease(self.name, self.namespace, lease)
        except ApiException as error:
            if error.status == 409:  # someone else wrote first
                return False
            raise
        self._renewed_at = moment
        return True

    def _create(self) -> bool:
        stamp = _micro_time()
        body = client.V1Lease(
            metadata=client.V1ObjectMeta(name=self.name, namespace=self.namespace),
            spec=client.V1LeaseSpec(
                holder_identity=self.holder,
                lease_duration_seconds=int(self.lease_seconds),
                acquire_time=stamp,
                renew_time=stamp,
                lease_transitions=0,
            ),
        )
        try:
            self.api.create_namespaced_lease(self.namespace, body)
        except ApiException as error:
            if error.status == 409:
                return False
            raise
        self._renewed_at = self.clock()
        return True

    def acquire(self, stop: threading.Event) -> bool:
        """Block until this process leads (True) or `stop` is set (False)."""
        log.info("waiting to lead as %s (lease %s/%s)", self.holder, self.namespace, self.name)
        while not stop.is_set():
            try:
                if self.try_acquire_or_renew():
                    log.info("leading as %s", self.holder)
                    return True
            except Exception:
                log.warning("cannot read the lease; trying again", exc_info=True)
            stop.wait(self.retry_seconds)
        return False

    def keep(self, on_lost: Callable[[], None], stop: threading.Event) -> threading.Thread:
        """Renew in the background; call `on_lost` once renewing failed for longer than
        the renew deadline or another process took the Lease."""

        def loop() -> None:
            while not stop.wait(self.retry_seconds):
                try:
                    if self.try_acquire_or_renew():
                        continue
                    log.error("another replica took the lease")
                except Exception:
                    if not overdue(self._renewed_at, self.clock(), self.renew_deadline_seconds):
                        log.warning("cannot renew the lease yet", exc_info=True)
                        continue
                    log.exception("could not renew the lease within the deadline")
                on_lost()
                return

        thread = threading.Thread(target=loop, name="headwater-lease", daemon=True)
        thread.start()
        return thread

    def release(self) -> None:
        """Give the Lease up at a clean shutdown, so a standby takes over at once."""
        try:
            lease = self.api.read_namespaced_lease(self.name, self.namespace)
            if lease.spec.holder_identity != self.holder:
                return
            lease.spec.holder_identity = ""
            lease.spec.lease_duration_seconds = 1
            self.api.replace_namespaced_lease(self.name, self.namespace, lease)
        except Exception:
            log.warning("could not release the lease", exc_info=True)
