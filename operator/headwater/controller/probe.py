"""Checking that a Dataset's URI answers, cheaply and only where the platform allows.

The operator's identity is not the user's: left alone it would fetch whatever URI a
user writes (`file:///etc/…`, the cloud metadata address, another team's bucket) and
publish what it found. So it probes only URIs the allow-list names — by default the
artifact store of the Dataset's own namespace, nothing local to the operator — and then
only with fsspec `info` (size and an ETag or modification time: never the whole file),
with a short timeout, in a small pool shared fairly by namespaces.
"""

import fnmatch
import ipaddress
import socket
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from fsspec.core import split_protocol

from headwater.artifacts.urls import open_filesystem

PROBE_TIMEOUT_SECONDS = 10.0
LOCAL_PROTOCOLS = frozenset({None, "", "file", "local", "memory"})


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    reason: str
    """Reachable, Unreachable, NotFound, NotChecked."""
    message: str
    size: int | None = None
    version: str | None = None
    """An ETag, version id or modification time: changes when the content does."""


def allowed(uri: str, patterns: tuple[str, ...], store_root: str | None) -> bool:
    """True when the operator may look at `uri`: under the namespace's store, or
    matching a platform pattern; never a local path, and never an address that is a
    literal loopback, link-local or private IP (the metadata service lives there)."""
    protocol, _ = split_protocol(uri)
    if protocol in LOCAL_PROTOCOLS or "::" in uri:
        # fsspec reads `::` as a chain of filesystems (simplecache::file:///etc/…) whose
        # inner links may be local; it cannot open an IPv6 literal with `::` either.
        return False
    address = _literal_address(urlsplit(uri).hostname or "")
    if address is not None and (address.is_loopback or address.is_link_local or address.is_private):
        return False
    if store_root and uri.startswith(store_root.rstrip("/") + "/"):
        return True
    return any(fnmatch.fnmatchcase(uri, pattern) for pattern in patterns)


def _literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address `host` spells, also in the forms the resolver reads as one
    (127.1, 2130706433, 0x7f000001 and 0177.0.0.1 are all 127.0.0.1)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def timeouts(uri: str) -> dict[str, Any]:
    """fsspec options that bound the time one request may take, per protocol."""
    protocol, _ = split_protocol(uri)
    if protocol in ("http", "https"):
        import aiohttp

        return {"client_kwargs": {"timeout": aiohttp.ClientTimeout(total=PROBE_TIMEOUT_SECONDS)}}
    if protocol in ("s3", "s3a"):
        return {
            "config_kwargs": {
                "connect_timeout": 5,
                "read_timeout": PROBE_TIMEOUT_SECONDS,
                "retries": {"max_attempts": 1},
            }
        }
    return {}


def probe(uri: str) -> ProbeResult:
    """Size and version of the data at `uri`, without reading it."""
    try:
        filesystem, path = open_filesystem(uri, timeouts(uri))
        info = filesystem.info(path)
    except FileNotFoundError:
        return ProbeResult(False, "NotFound", f"{uri}: no such file")
    except Exception as error:  # each filesystem raises its own kinds
        return ProbeResult(False, "Unreachable", f"{uri}: {_why(error)}")
    if info.get("type") == "directory":
        return ProbeResult(False, "NotFound", f"{uri}: is a directory, not a file")
    version = info.get("ETag") or info.get("etag") or info.get("VersionId") or info.get("mtime")
    size = info.get("size")
    return ProbeResult(
        True,
        "Reachable",
        uri,
        size=int(size) if size is not None else None,
        version=str(version).strip('"') if version is not None else None,
    )


def _why(error: Exception) -> str:
    text = str(error) or type(error).__name__
    if "Cannot connect" in text or "Name or service not known" in text:
        return f"cannot connect: {text}"
    return text


class Prober:
    """A bounded pool; at most one probe in flight per namespace, so a namespace full of
    slow URIs delays only itself."""

    def __init__(self, workers: int = 4) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="probe")
        self._busy: set[str] = set()
        self._lock = threading.Lock()

    def submit(self, namespace: str, uri: str) -> "Future[ProbeResult] | None":
        """A probe under way, or None when the namespace has one in flight already."""
        with self._lock:
            if namespace in self._busy:
                return None
            self._busy.add(namespace)
        future = self._pool.submit(probe, uri)
        future.add_done_callback(lambda _: self._release(namespace))
        return future

    def _release(self, namespace: str) -> None:
        with self._lock:
            self._busy.discard(namespace)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
