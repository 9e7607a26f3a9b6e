"""Checking Function code in a separate process, so no code can hurt the operator.

At CODE_LENGTH characters Python 3.11's parser can take seconds (an f-string of
thousands of fields parses in quadratic time) and tens of MiB, and in a process whose
recursion limit was raised for deep JSON (`headwater.deepjson`) deeply nested code
recurses in C as far as that limit allows. So the operator parses in one worker process:
a fresh interpreter at the default recursion limit, its address space capped, given a
deadline per check, killed and started again when it overruns or dies. Answers are
cached by the sha256 of (code, handler, params), so resyncs never parse the same code
twice, and a slow check holds up only the checks queued behind it.

`python -m headwater.codeworker MEMORY_BYTES` is the worker: one JSON request a line on
stdin, one JSON answer a line on stdout.
"""

import hashlib
import json
import os
import resource
import select
import signal
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable

from headwater.codecheck import CodeIssue, CodeIssueKind, find_code_issues

TIMEOUT_SECONDS = 5.0
"""A check's deadline. Real code of CODE_LENGTH parses in under 0.7 s; the slowest
input Python knows takes about 2.5 s."""
MEMORY_BYTES = 128 * 1024 * 1024
"""Address space the worker may add to what it has at start. Parsing CODE_LENGTH
characters of the worst code measured needs less than 64 MiB."""
CACHE_ENTRIES = 4096
"""Answers kept, most recently used first: a few MiB at most."""
READY = "ready"


class CheckerUnavailable(RuntimeError):
    """The worker cannot be started: the operator's fault, not the code's."""


class CodeChecker:
    """One worker process and a cache of its answers; safe to share between threads."""

    def __init__(
        self,
        timeout: float = TIMEOUT_SECONDS,
        memory_bytes: int = MEMORY_BYTES,
        cache_entries: int = CACHE_ENTRIES,
    ) -> None:
        self.timeout = timeout
        self.memory_bytes = memory_bytes
        self.cache_entries = cache_entries
        self.parses = 0
        """Requests the worker answered or failed: cache hits do not count."""
        self._cache: OrderedDict[str, list[CodeIssue]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._worker_lock = threading.Lock()
        self._worker: subprocess.Popen[bytes] | None = None

    def check(self, code: str | bytes, handler: str, params: Iterable[str]) -> list[CodeIssue]:
        """Every issue of `code` as the home of `handler(params…)`; never raises for
        anything the code holds."""
        if isinstance(code, bytes):
            code = code.decode(errors="surrogateescape")  # the worker says if it is not UTF-8
        params = list(params)
        key = hashlib.sha256(json.dumps([code, handler, params]).encode()).hexdigest()
        cached = self._cached(key)
        if cached is not None:
            return list(cached)
        with self._worker_lock:
            # Another thread may have checked the same code while this one waited.
            cached = self._cached(key)
            if cached is not None:
                return list(cached)
            issues = self._ask({"code": code, "handler": handler, "params": params})
            self.parses += 1
        with self._cache_lock:
            self._cache[key] = issues
            while len(self._cache) > self.cache_entries:
                self._cache.popitem(last=False)
        return list(issues)

    def close(self) -> None:
        with self._worker_lock:
            self._stop_worker()

    def _cached(self, key: str) -> list[CodeIssue] | None:
        with self._cache_lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        return None

    def _ask(self, request: dict[str, object]) -> list[CodeIssue]:
        line = (json.dumps(request) + "\n").encode()
        worker = self._running_worker()
        try:
            assert worker.stdin is not None
            worker.stdin.write(line)
            worker.stdin.flush()
        except OSError:
            # It died since the last check (killed from outside): start afresh once.
            self._stop_worker()
            worker = self._running_worker()
            assert worker.stdin is not None
            worker.stdin.write(line)
            worker.stdin.flush()
        try:
            answer = _read_line(worker, time.monotonic() + self.timeout)
        except TimeoutError:
            self._stop_worker()
            return [_invalid(f"parsing the code took longer than {self.timeout:g}s")]
        except EOFError:
            died = worker.wait()
            self._stop_worker()
            return [_invalid(f"parsing the code crashed the code checker ({_exit(died)})")]
        return [CodeIssue(CodeIssueKind(kind), message) for kind, message in json.loads(answer)]

    def _running_worker(self) -> subprocess.Popen[bytes]:
        if self._worker is not None and self._worker.poll() is None:
            return self._worker
        self._stop_worker()
        worker = subprocess.Popen(
            [sys.executable, "-m", "headwater.codeworker", str(self.memory_bytes)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        try:
            started = _read_line(worker, time.monotonic() + 30) == READY
        except (TimeoutError, EOFError):
            started = False
        if not started:
            worker.kill()
            raise CheckerUnavailable(f"the code checker did not start ({_exit(worker.wait())})")
        self._worker = worker
        return worker

    def _stop_worker(self) -> None:
        if self._worker is None:
            return
        self._worker.kill()
        self._worker.wait()
        for pipe in (self._worker.stdin, self._worker.stdout):
            if pipe is not None:
                pipe.close()
        self._worker = None


def _read_line(worker: subprocess.Popen[bytes], deadline: float) -> str:
    """One line from the worker; TimeoutError past the deadline, EOFError if it died."""
    assert worker.stdout is not None
    descriptor = worker.stdout.fileno()
    received = b""
    while not received.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([descriptor], [], [], remaining)[0]:
            raise TimeoutError
        chunk = os.read(descriptor, 1 << 16)
        if not chunk:
            raise EOFError
        received += chunk
    return received.decode().rstrip("\n")


def _exit(code: int | None) -> str:
    if code is not None and code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


def _invalid(message: str) -> CodeIssue:
    return CodeIssue(CodeIssueKind.INVALID_CODE, message)


_shared: CodeChecker | None = None
_shared_lock = threading.Lock()


def check_code_isolated(code: str | bytes, handler: str, params: Iterable[str]) -> list[CodeIssue]:
    """`find_code_issues`, answered by the process-wide worker; what the operator calls."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = CodeChecker()
    return _shared.check(code, handler, params)


def serve(memory_bytes: int) -> None:
    """The worker's loop: capped, and the first to go when memory runs short anyway."""
    try:
        with open("/proc/self/oom_score_adj", "w") as score:
            score.write("1000")
        with open("/proc/self/statm") as statm:
            current = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: the deadline still holds
        current = None
    if current is not None:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = current + memory_bytes
        resource.setrlimit(
            resource.RLIMIT_AS, (cap if hard == resource.RLIM_INFINITY else min(cap, hard), hard)
        )
    print(READY, flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        issues = find_code_issues(request["code"], request["handler"], request["params"])
        print(json.dumps([[issue.kind, issue.message] for issue in issues]), flush=True)


if __name__ == "__main__":
    serve(int(sys.argv[1]))
