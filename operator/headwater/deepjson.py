"""Deeply nested JSON: bounding it in the models, surviving it in the parsers.

The API server stores documents nested up to 10,000 levels (Go's encoding/json limit),
so a user can apply a Run whose `value` is a list 9,996 deep. Python's `json.loads`,
`json.dumps`, `repr`, `==` recurse once per level and `copy.deepcopy` twice: at the
default recursion limit of 1,000 they raise RecursionError, which in kopf's watch
stops the operator for every namespace. `allow_deep_json` raises the limit at startup,
and grows the stacks with it so that the deeper recursion cannot overflow the C stack
(a segfault, worse than the error). `json_problem` is what the models run first on every
free-form value: an iterative walk, so the value is rejected without recursing on it.
"""

import json
import math
import resource
import sys
import threading
from dataclasses import dataclass
from typing import Any

API_SERVER_DEPTH = 10_000
"""The deepest document kube-apiserver 1.33 accepts (measured: 10,001 is refused)."""
RECURSION_LIMIT = 4 * API_SERVER_DEPTH
"""json needs a frame a level, copy.deepcopy two (pure-Python PyYAML three: 30,000 for
9,999 levels, but it is also quadratic, so manifests are read with LibYAML, which stops
at 1,000); the rest is room for the frames of whoever calls them."""
STACK_BYTES = 64 * 1024 * 1024
"""Stack for every thread. Measured C stack per level on CPython 3.11: json.loads 128 B,
json.dumps 113, repr 145, == 177, Python calling itself through C (map, sort keys,
__eq__) 753. RECURSION_LIMIT levels of the worst take 30 MiB."""
BYTES_PER_LEVEL = 1024
"""The worst measured C stack per recursion level, rounded up."""
INT64 = 2**63
"""Kubernetes stores JSON numbers as int64 or float64."""


@dataclass(frozen=True)
class DeepJsonSupport:
    """What `allow_deep_json` achieved, for the startup log."""

    recursion_limit: int
    thread_stack_bytes: int
    main_stack_bytes: int | None
    """The main thread's stack limit; None when unlimited."""

    @property
    def deepest_parse(self) -> int:
        """How deep a document json.loads can read in any thread, roughly."""
        return self.recursion_limit - 100


def allow_deep_json() -> DeepJsonSupport:
    """Let every thread parse whatever the API server stores, before any thread starts.

    Both are needed: the recursion limit alone only trades RecursionError for a C stack
    overflow in threads (8 MiB by default) and, where the main thread's stack limit
    cannot be raised, the recursion limit stays what that stack can take.
    """
    threading.stack_size(max(threading.stack_size(), STACK_BYTES))
    main_stack = _raise_main_stack(STACK_BYTES)
    limit = RECURSION_LIMIT
    if main_stack is not None:
        limit = min(limit, main_stack // BYTES_PER_LEVEL)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), limit))
    return DeepJsonSupport(sys.getrecursionlimit(), threading.stack_size(), main_stack)


def _raise_main_stack(wanted: int) -> int | None:
    """The main thread's stack grows on demand up to RLIMIT_STACK, read when it grows, so
    raising the soft limit now takes effect at once (within the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
    if soft == resource.RLIM_INFINITY:
        return None
    if soft < wanted:
        soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_STACK, (soft, hard))
    return soft


def json_problem(value: Any, max_depth: int, max_bytes: int) -> str | None:
    """Why `value` is not a JSON value within bounds, or None. Iterative, and it stops at
    the first excess, so its cost is bounded by `max_bytes` whatever the value holds; the
    size is that of compact UTF-8 JSON, as the API server stores it."""
    too_big = f"more than {max_bytes} bytes as JSON"
    size = 0
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if not isinstance(item, dict | list):
            scalar, problem = _scalar_bytes(item)
            if problem:
                return problem
            size += scalar
            if size > max_bytes:
                return too_big
            continue
        if depth >= max_depth:
            return f"nested more than {max_depth} levels deep (lists and objects)"
        size += 1 + max(len(item), 1)  # brackets and commas
        if size > max_bytes:
            return too_big
        if isinstance(item, list):
            pending.extend((member, depth + 1) for member in item)
            continue
        for key, member in item.items():
            if not isinstance(key, str):
                return f"object keys are strings; found a {type(key).__name__}"
            size += _string_bytes(key) + 1
            if size > max_bytes:
                return too_big
            pending.append((member, depth + 1))
    return None


def _scalar_bytes(item: Any) -> tuple[int, str | None]:
    if item is None or isinstance(item, bool):
        return len(json.dumps(item)), None
    if isinstance(item, str):
        return _string_bytes(item), None
    if isinstance(item, int):
        if not -INT64 <= item < INT64:
            return 0, "a number beyond 64 bits, which Kubernetes cannot store"
        return len(str(item)), None
    if isinstance(item, float):
        if not math.isfinite(item):
            return 0, f"{item} is not a JSON number"
        return len(repr(item)), None
    return 0, f"a {type(item).__name__} is not JSON; quote it to make it a string"


def _string_bytes(text: str) -> int:
    # Longer than any limit already in characters: skip encoding megabytes.
    if len(text) > 1024 * 1024:
        return len(text)
    return len(json.dumps(text, ensure_ascii=False).encode(errors="surrogatepass"))
