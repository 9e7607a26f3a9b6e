"""SIGTERM: how a stopped Run reaches a node. Kubernetes sends it when the node's Job is
deleted (and SIGKILL after the grace period), the local executor when a run is stopped.

The runner is PID 1 of its container, and PID 1 ignores a signal it has no handler for,
so without one the node would run on until SIGKILL. The handler raises `Stopped` in the
main thread — inside the function, while it runs — so the runner can still write the
log, the record and the termination message. A function stuck in C code does not see
the exception until it returns; `on_signal` callbacks run at once, in a thread of their
own, so the store hears of the stop even then.
"""

import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

EXIT_STOPPED = 128 + signal.SIGTERM
"""143, the code a process killed by SIGTERM reports."""
STOPPED_MESSAGE = "stopped (SIGTERM)"


class Stopped(BaseException):
    """SIGTERM arrived. A BaseException, like KeyboardInterrupt, so that a function's
    `except Exception` does not swallow it."""


class Stopper:
    """Installed for one attempt; raises Stopped only while armed, and at arming if the
    signal came before."""

    def __init__(self) -> None:
        self.received = False
        self.armed = False
        self.callbacks: list[Callable[[], None]] = []

    def _handle(self, _signal: int, _frame: FrameType | None) -> None:
        first = not self.received
        self.received = True
        if first:
            # A raw write: the main thread may be inside a sys.stderr write right now.
            os.write(2, b"headwater: SIGTERM: stopping the function\n")
        if self.armed and first:
            self.armed = False
            raise Stopped(STOPPED_MESSAGE)

    @contextmanager
    def installed(self) -> Iterator["Stopper"]:
        """The handler in place for the block (main thread only, as signal.signal is)."""
        previous = signal.signal(signal.SIGTERM, self._handle)
        wake_read, wake_write = socket.socketpair()
        wake_write.setblocking(False)
        # The C-level handler writes the signal's number here at once, whatever the main
        # thread is doing; the watcher thread reads it.
        previous_wakeup = signal.set_wakeup_fd(wake_write.fileno(), warn_on_full_buffer=False)
        watcher = threading.Thread(
            target=self._watch, args=(wake_read,), name="headwater-sigterm", daemon=True
        )
        watcher.start()
        try:
            yield self
        finally:
            self.armed = False
            signal.set_wakeup_fd(previous_wakeup)
            signal.signal(signal.SIGTERM, previous)
            wake_write.close()  # the watcher reads end-of-file and leaves
            watcher.join()
            wake_read.close()

    def on_signal(self, callback: Callable[[], None]) -> None:
        """Call `callback` (from another thread) when SIGTERM arrives."""
        self.callbacks.append(callback)

    @contextmanager
    def armed_for(self) -> Iterator[None]:
        """Stopped may be raised in the block: the attempt's own work."""
        self.armed = True
        if self.received:  # before arming: the handler let it pass
            self.armed = False
            raise Stopped(STOPPED_MESSAGE)
        try:
            yield
        finally:
            self.armed = False

    def _watch(self, wake_read: socket.socket) -> None:
        notified = False
        while data := wake_read.recv(64):
            if signal.SIGTERM in data and not notified:
                notified = True
                for callback in self.callbacks:
                    callback()
