"""How a node attempt becomes a process: forked by the fork server (warm, the default on
Linux) or started cold as `python -m headwater.runner TASK_FILE`. Either way each attempt
is its own process in its own session, and its exit arrives on a queue, so the driver
wakes when a node ends instead of polling.

`HEADWATER_COLD_NODES=1` forces the cold path, e.g. to rule the fork server out while
debugging.
"""

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from queue import SimpleQueue
from typing import IO, Protocol

from headwater.runner.errors import EXIT_FAILURE

COLD_VARIABLE = "HEADWATER_COLD_NODES"
STOP_GRACE_SECONDS = 5.0
STARTUP_PREFIXES = ("PYTHON", "LD_")
"""Variables read when an interpreter starts (PYTHONPATH, PYTHONHASHSEED, LD_PRELOAD…):
a node whose environment changes one needs a cold process to see the change."""


@dataclass(frozen=True)
class Attempt:
    """One launch of a node's runner."""

    key: int
    task_file: Path
    log_file: Path
    env: dict[str, str]


@dataclass(frozen=True)
class Exit:
    """How an attempt ended: `code` as in Popen.returncode (-N: killed by signal N);
    `error` when the launcher could not start it at all."""

    key: int
    code: int
    error: str | None = None


class Launcher(Protocol):
    def launch(self, attempt: Attempt) -> None: ...

    def terminate(self, key: int) -> None:
        """SIGTERM the attempt's process group, SIGKILL after a grace period; nothing if
        the attempt is not running here."""

    def close(self) -> None: ...


def make_launcher(exits: SimpleQueue[Exit]) -> Launcher:
    """The fork server where fork is safe to use (Linux), cold processes elsewhere."""
    cold = ColdLauncher(exits)
    if os.environ.get(COLD_VARIABLE) == "1" or sys.platform != "linux":
        return cold
    return ForkServer(exits, cold)


def changes_startup(env: dict[str, str], base: dict[str, str]) -> bool:
    """Whether `env` sets, changes or drops a start-up variable of `base`."""
    names = {*env, *base}
    return any(env.get(n) != base.get(n) for n in names if n.startswith(STARTUP_PREFIXES))


class ColdLauncher:
    """A fresh interpreter per attempt, waited for by a thread of its own."""

    def __init__(self, exits: SimpleQueue[Exit]) -> None:
        self.exits = exits
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    def launch(self, attempt: Attempt) -> None:
        with attempt.log_file.open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "headwater.runner", str(attempt.task_file)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=attempt.env,
                start_new_session=True,
            )
        self.processes[attempt.key] = process
        threading.Thread(target=self._await, args=(attempt.key, process), daemon=True).start()

    def _await(self, key: int, process: subprocess.Popen[bytes]) -> None:
        code = process.wait()
        self.processes.pop(key, None)
        self.exits.put(Exit(key, code))

    def terminate(self, key: int) -> None:
        process = self.processes.get(key)
        if process is None:
            return
        _signal_group(process, signal.SIGTERM)
        threading.Timer(STOP_GRACE_SECONDS, _signal_group, (process, signal.SIGKILL)).start()

    def close(self) -> None:
        """Nothing to release: each process is waited for by its thread."""


def _signal_group(process: subprocess.Popen[bytes], signal_number: signal.Signals) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal_number)


class ForkServer:
    """The driver's side of `headwater.local.forkserver`: requests down its stdin, exits
    read back by a thread. Attempts it cannot take — the server is gone, or the node's
    environment changes a start-up variable — go to `cold`."""

    def __init__(self, exits: SimpleQueue[Exit], cold: Launcher) -> None:
        self.exits = exits
        self.cold = cold
        self.environment = dict(os.environ)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "headwater.local.forkserver"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            # Its own session: Ctrl-C in the terminal reaches the driver, which decides.
            start_new_session=True,
        )
        self.lock = threading.Lock()
        self.in_flight: set[int] = set()
        self.alive = True
        assert self.process.stdout is not None
        self.reader = threading.Thread(
            target=self._read_exits, args=(self.process.stdout,), daemon=True
        )
        self.reader.start()

    def launch(self, attempt: Attempt) -> None:
        if changes_startup(attempt.env, self.environment) or not self._take(attempt.key):
            self.cold.launch(attempt)
            return
        request = {
            "start": attempt.key,
            "task": str(attempt.task_file),
            "log": str(attempt.log_file),
            "env": attempt.env,
        }
        if not self._send(request):
            with self.lock:
                ours = attempt.key in self.in_flight
                self.in_flight.discard(attempt.key)
            if ours:  # else the reader has already reported it lost
                self.cold.launch(attempt)

    def _take(self, key: int) -> bool:
        with self.lock:
            if self.alive:
                self.in_flight.add(key)
            return self.alive

    def _send(self, request: dict[str, object]) -> bool:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(request).encode() + b"\n")
            self.process.stdin.flush()
        except (BrokenPipeError, ValueError):  # ValueError: the pipe was closed
            return False
        return True

    def terminate(self, key: int) -> None:
        self.cold.terminate(key)
        self._send({"stop": key})

    def _read_exits(self, stream: IO[bytes]) -> None:
        with stream:
            for line in stream:
                message = json.loads(line)
                with self.lock:
                    self.in_flight.discard(message["key"])
                self.exits.put(Exit(message["key"], message["code"], message.get("error")))
        code = self.process.wait()
        with self.lock:
            self.alive = False
            lost, self.in_flight = self.in_flight, set()
        for key in lost:
            error = f"the fork server exited with code {code} while the node ran"
            self.exits.put(Exit(key, EXIT_FAILURE, error))

    def close(self) -> None:
        """Closing its stdin ends the server; it stops any child still running first."""
        assert self.process.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.process.stdin.close()
        try:
            self.process.wait(timeout=STOP_GRACE_SECONDS * 2)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.reader.join()
        self.cold.close()
