"""SIGTERM: how a stopped Run reaches a node. Kubernetes sends it when the node's Job is
deleted (and SIGKILL after the grace period), the local executor when a run is stopped.

The runner is PID 1 of its container, and PID 1 ignores a signal it has no handler for,
so without one the node would run on until SIGKILL. The handler raises `Stopped` in the
main thread — inside the function, while it runs — so that the runner can still write
the log, the record and the termination message. A function stuck in C code sees the
exception only when it returns; for that case the signal's number also goes to a
wake-up fd at once, which the store's thread watches (headwater.runner.bookkeeping).
"""

import os
import signal
from collections.abc import Iterator
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

    def _handle(self, _signal: int, _frame: FrameType | None) -> None:
        first = not self.received
        self.received = True
        if not first:
            return
        # A raw write: the main thread may be inside a sys.stderr write right now.
        os.write(2, b"headwater: SIGTERM: stopping the function\n")
        if self.armed:
            self.armed = False
            raise Stopped(STOPPED_MESSAGE)

    @contextmanager
    def installed(self, wakeup_fd: int | None = None) -> Iterator["Stopper"]:
        """The handler in place for the block (main thread only, as signal.signal is);
        `wakeup_fd`, non-blocking, hears of every signal at once."""
        previous = signal.signal(signal.SIGTERM, self._handle)
        if wakeup_fd is not None:
            previous_wakeup = signal.set_wakeup_fd(wakeup_fd, warn_on_full_buffer=False)
        try:
            yield self
        finally:
            self.armed = False
            if wakeup_fd is not None:
                signal.set_wakeup_fd(previous_wakeup)
            signal.signal(signal.SIGTERM, previous)

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
