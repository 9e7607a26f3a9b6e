"""The artifact store: each artifact is a directory URI holding `data.<ext>` and a
`meta.json` record (serializer, type, size, sha256, file) written last, so a directory
with a meta.json is always complete."""

import hashlib
import json

from fsspec import AbstractFileSystem
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from headwater.artifacts.errors import (
    ArtifactError,
    DataUnavailable,
    UnreadableData,
    UnstorableValue,
)
from headwater.artifacts.serializers import BY_NAME, Serializer, candidates_for
from headwater.artifacts.urls import StorageOptions, join_uri, open_filesystem

META_FILE = "meta.json"


class ArtifactMeta(BaseModel):
    """What `meta.json` says about the artifact beside it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    serializer: str
    """How the data file was written: parquet, npy, json or pickle."""
    type: str
    """The Python qualified type name of the stored object, e.g. builtins.dict."""
    size: int = Field(ge=0)
    """Size of the data file in bytes."""
    sha256: str
    """Hex SHA-256 of the data file."""
    file: str = Field(pattern=r"^data\.[A-Za-z0-9]+$")
    """The data file's name inside the artifact directory (never a path elsewhere)."""
    fingerprint: str | None = None
    """The fingerprint of the node that made it: what a cache entry or resumeFrom
    matched on (headwater.fingerprint)."""


def qualified_type_name(obj: object) -> str:
    kind = type(obj)
    return f"{kind.__module__}.{kind.__qualname__}"


def serialize(obj: object, uri: str) -> tuple[Serializer, bytes]:
    """The first serializer that can write `obj`, and the bytes it wrote."""
    failures: list[str] = []
    for serializer in candidates_for(obj):
        try:
            return serializer, serializer.dump(obj)
        except Exception as error:  # a serializer's refusal can be any exception type
            failures.append(f"{serializer.name}: {type(error).__name__}: {error}")
    raise UnstorableValue(uri, f"cannot store a {qualified_type_name(obj)} ({'; '.join(failures)})")


def remove_stale_data_files(filesystem: AbstractFileSystem, directory: str, keep: str) -> None:
    """Drop data files an earlier attempt wrote with another serializer, so the directory
    holds exactly one data file."""
    for path in filesystem.glob(join_uri(directory, "data.*")):
        if path.rstrip("/").rsplit("/", 1)[-1] != keep:
            filesystem.rm_file(path)


def write_artifact(
    uri: str, obj: object, storage_options: StorageOptions = None, fingerprint: str | None = None
) -> ArtifactMeta:
    """Store `obj` in the artifact directory `uri` and return its metadata."""
    serializer, data = serialize(obj, uri)
    meta = ArtifactMeta(
        serializer=serializer.name,
        type=qualified_type_name(obj),
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        file=f"data.{serializer.extension}",
        fingerprint=fingerprint,
    )
    filesystem, directory = open_filesystem(uri, storage_options)
    meta_path = join_uri(directory, META_FILE)
    try:
        filesystem.makedirs(directory, exist_ok=True)
        # A retry may overwrite an earlier attempt: drop its meta.json first so that a
        # crash half-way never leaves an old record pointing at new bytes.
        if filesystem.exists(meta_path):
            filesystem.rm_file(meta_path)
        filesystem.pipe_file(join_uri(directory, meta.file), data)
        filesystem.pipe_file(meta_path, meta.model_dump_json(indent=2, exclude_none=True).encode())
        remove_stale_data_files(filesystem, directory, keep=meta.file)
    except OSError as error:
        raise ArtifactError(uri, f"cannot write artifact: {error}") from error
    return meta


def read_meta(uri: str, storage_options: StorageOptions = None) -> ArtifactMeta:
    """The metadata record of the artifact at `uri`."""
    filesystem, directory = open_filesystem(uri, storage_options)
    try:
        raw = filesystem.cat_file(join_uri(directory, META_FILE))
    except FileNotFoundError as error:
        raise DataUnavailable(uri, f"no artifact here ({META_FILE} is missing)") from error
    except OSError as error:
        raise ArtifactError(uri, f"cannot read {META_FILE}: {error}") from error
    try:
        return ArtifactMeta.model_validate(json.loads(raw))
    except (ValueError, ValidationError) as error:
        raise UnreadableData(uri, f"invalid {META_FILE}: {error}") from error


def artifact_data_path(uri: str, storage_options: StorageOptions = None) -> str:
    """The URL of the artifact's data file, for consumers that want the bytes."""
    return join_uri(uri, read_meta(uri, storage_options).file)


def read_artifact(uri: str, storage_options: StorageOptions = None) -> object:
    """The object stored at `uri`, checked against its recorded sha256."""
    meta = read_meta(uri, storage_options)
    serializer = BY_NAME.get(meta.serializer)
    if serializer is None:
        raise UnreadableData(uri, f"unknown serializer {meta.serializer!r}")
    filesystem, directory = open_filesystem(uri, storage_options)
    try:
        data = filesystem.cat_file(join_uri(directory, meta.file))
    except FileNotFoundError as error:
        raise DataUnavailable(uri, f"{meta.file} is missing") from error
    except OSError as error:
        raise ArtifactError(uri, f"cannot read {meta.file}: {error}") from error
    if hashlib.sha256(data).hexdigest() != meta.sha256:
        raise UnreadableData(uri, f"{meta.file} does not match the sha256 in {META_FILE}")
    try:
        return serializer.load(data)
    except Exception as error:  # decoders raise many types; all mean the same here
        raise UnreadableData(uri, f"cannot decode {meta.file}: {error}") from error
