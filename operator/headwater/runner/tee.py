"""Everything the process writes to fds 1 and 2 — the function's prints, tracebacks, a
child process's output, the runner's own `headwater:` lines — copied into a spool while
it still reaches the original files (the container log, the local node.log).

fds 1 and 2 are pointed at pipes that one thread drains into both. They share one pipe
when they point at the same file (a local node.log, the test agent's log), so the copy
keeps the exact order of what was written; otherwise (a container runtime's two
streams) each has its own pipe and the copy interleaves them line by line as they
arrive, as the runtime's own log does (a line without its end yet waits, up to
PARTIAL_LINE_BYTES or the next store write). A process that inherited the fds and
outlives the runner loses what it writes after `stop`.
"""

import contextlib
import os
import select
import sys
import threading
from dataclasses import dataclass
from typing import Protocol

from headwater.runner.spool import Spool

STDIO = (1, 2)
READ_SIZE = 1 << 16
PARTIAL_LINE_BYTES = 1 << 16


@dataclass
class Route:
    """One pipe: what the fds in `fds` write arrives at `read`, and goes on to
    `original` (a copy of where they pointed before), unless that file was closed."""

    read: int
    original: int | None
    fds: tuple[int, ...]
    passing_on: bool = True
    """False once writing to `original` failed (its reader went away)."""
    partial: bytes = b""
    """The start of a line not yet ended, kept back when streams interleave."""


def destinations(fds: tuple[int, ...]) -> list[tuple[int, ...]]:
    """`fds` grouped by the file they point at; closed fds form a group of their own."""
    groups: dict[tuple[int, int] | None, list[int]] = {}
    for fd in fds:
        try:
            status = os.fstat(fd)
        except OSError:
            key = None
        else:
            key = (status.st_dev, status.st_ino)
        groups.setdefault(key, []).append(fd)
    return [tuple(group) for group in groups.values()]


def flush_stdio() -> None:
    """Python's buffers first, so nothing printed so far crosses the switch late."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a function may have closed or replaced it
            stream.flush()


class Ticker(Protocol):
    """Work the pump thread does between reads: on a timer, and when `wake_fd` (a signal
    wake-up fd) has news."""

    @property
    def wake_fd(self) -> int: ...

    def on_wake(self, data: bytes) -> None: ...

    def next_tick(self) -> float:
        """Seconds until `tick` is due."""

    def tick(self) -> None: ...


class Tee:
    """`start()` redirects fds 1 and 2, `stop()` puts them back after draining what was
    written before it. One thread does the copying, and the `ticker`'s work."""

    def __init__(self, spool: Spool, ticker: Ticker | None = None) -> None:
        self.spool = spool
        self.ticker = ticker
        self.routes: list[Route] = []
        self.wake_read, self.wake_write = os.pipe()
        self.thread = threading.Thread(target=self._pump, name="headwater-tee", daemon=True)

    def start(self) -> None:
        flush_stdio()
        for fds in destinations(STDIO):
            original = os.dup(fds[0]) if _is_open(fds[0]) else None
            read, write = os.pipe()
            for fd in fds:
                os.dup2(write, fd)  # inheritable, so child processes write here too
            os.close(write)
            self.routes.append(Route(read, original, fds))
        self.thread.start()

    def stop(self) -> None:
        flush_stdio()
        for route in self.routes:
            for fd in route.fds:
                if route.original is None:
                    os.close(fd)
                else:
                    os.dup2(route.original, fd)
        os.write(self.wake_write, b"\0")
        self.thread.join()
        for route in self.routes:
            os.close(route.read)
            if route.original is not None:
                os.close(route.original)
        os.close(self.wake_read)
        os.close(self.wake_write)

    def _pump(self) -> None:
        by_fd = {route.read: route for route in self.routes}
        ticker_fd = self.ticker.wake_fd if self.ticker is not None else None
        poller = select.poll()
        for fd in (*by_fd, self.wake_read, *([ticker_fd] if ticker_fd is not None else [])):
            poller.register(fd, select.POLLIN)
        stopping = False
        while True:
            # Once stop() is called every write end here is back on its file: drain what
            # the pipes hold, without waiting for writers that may never close theirs.
            events = poller.poll(0 if stopping else self._timeout_ms())
            if stopping and not events:
                self._flush_partial_lines()
                return
            for fd, _ in events:
                if fd == self.wake_read:
                    stopping = True
                    poller.unregister(fd)
                elif fd == ticker_fd and self.ticker is not None:
                    self._flush_partial_lines()
                    self.ticker.on_wake(os.read(fd, 64))
                elif data := os.read(fd, READ_SIZE):
                    self._deliver(by_fd[fd], data)
                else:
                    poller.unregister(fd)
                    del by_fd[fd]
            if stopping and not by_fd:
                self._flush_partial_lines()
                return
            if not stopping and self.ticker is not None and self.ticker.next_tick() <= 0:
                self._flush_partial_lines()
                self.ticker.tick()

    def _timeout_ms(self) -> int | None:
        if self.ticker is None:
            return None
        return max(int(self.ticker.next_tick() * 1000) + 1, 0)

    def _deliver(self, route: Route, data: bytes) -> None:
        if route.original is not None and route.passing_on:
            try:
                _write_all(route.original, data)
            except OSError:  # the reader of the original went away; keep the copy going
                route.passing_on = False
        if len(self.routes) == 1:
            self.spool.append(data)
            return
        data = route.partial + data
        end = data.rfind(b"\n") + 1
        if len(data) - end > PARTIAL_LINE_BYTES:
            end = len(data)
        route.partial = data[end:]
        if end:
            self.spool.append(data[:end])

    def _flush_partial_lines(self) -> None:
        for route in self.routes:
            if route.partial:
                self.spool.append(route.partial)
                route.partial = b""


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
