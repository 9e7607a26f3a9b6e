"""What identifies a dataset's bytes for a fingerprint: `sha256:<hex>` where the bytes
can be read (inline values, ConfigMap keys, local files, pushed files), else
`version:<v>` as an object store reports it (an ETag, a version id). Both executors
write the same identifiers, so a fingerprint means the same everywhere."""

import hashlib
import json

from headwater.artifacts.formats import fingerprint
from headwater.artifacts.urls import open_filesystem


def of_bytes(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def of_inline(value: object) -> str:
    """Inline JSON values, as canonical JSON (key order does not matter)."""
    return of_bytes(json.dumps(value, sort_keys=True, separators=(",", ":")).encode())


def of_sha256(hex_digest: str) -> str:
    return f"sha256:{hex_digest}"


def of_version(version: str) -> str:
    return f"version:{version}"


def of_file(uri: str) -> str:
    """A local file's content, read once in chunks."""
    return of_sha256(fingerprint(uri)[1])


def of_remote(uri: str) -> str | None:
    """What the remote store says of the object, without reading it; None if nothing."""
    try:
        filesystem, path = open_filesystem(uri)
        info = filesystem.info(path)
    except Exception:  # unreachable, missing, no credentials: not known
        return None
    version = info.get("ETag") or info.get("etag") or info.get("VersionId")
    if version:
        return of_version(str(version).strip('"'))
    return None
