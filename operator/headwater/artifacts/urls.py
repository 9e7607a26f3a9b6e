"""Opening fsspec URLs: which filesystem, which options, and local-versus-remote."""

from collections.abc import Mapping
from typing import Any

from fsspec import AbstractFileSystem
from fsspec.core import split_protocol, url_to_fs
from fsspec.implementations.local import LocalFileSystem

StorageOptions = Mapping[str, Any] | None
"""fsspec options: flat (`{"key": ..., "secret": ...}`) or keyed by protocol
(`{"s3": {...}, "gs": {...}}`) when one task reads from several stores."""

LOCAL_PROTOCOLS = frozenset({None, "file", "local"})


def is_local(uri: str) -> bool:
    """True for plain paths and file:// URLs, which need neither options nor downloads."""
    return split_protocol(uri)[0] in LOCAL_PROTOCOLS


def options_for(uri: str, storage_options: StorageOptions) -> dict[str, Any]:
    """The options that apply to `uri`'s protocol; local files take none, so credentials
    meant for an object store never reach the local filesystem's constructor."""
    if is_local(uri) or not storage_options:
        return {}
    protocol = split_protocol(uri)[0]
    nested = storage_options.get(protocol) if protocol else None
    return dict(nested) if isinstance(nested, Mapping) else dict(storage_options)


def open_filesystem(
    uri: str, storage_options: StorageOptions = None
) -> tuple[AbstractFileSystem, str]:
    """The filesystem serving `uri` and the path inside it."""
    return url_to_fs(uri, **options_for(uri, storage_options))


def local_path(uri: str) -> str:
    """The OS path of a local URI (file:// stripped, made absolute)."""
    filesystem, path = url_to_fs(uri)
    if not isinstance(filesystem, LocalFileSystem):
        raise ValueError(f"{uri} is not a local path")
    return path


def join_uri(uri: str, name: str) -> str:
    """`uri`/`name`, keeping the protocol: works for paths and URLs alike."""
    return f"{uri.rstrip('/')}/{name}"
