"""Where node outputs live between nodes, and how datasets are read: fsspec URLs,
serializers chosen by type, a meta.json beside each artifact."""

from headwater.artifacts.errors import (
    ArtifactError,
    DataUnavailable,
    UnreadableData,
    UnstorableValue,
)
from headwater.artifacts.formats import fingerprint, infer_format, load_data, read_bytes
from headwater.artifacts.serializers import is_json_value
from headwater.artifacts.store import (
    ArtifactMeta,
    artifact_data_path,
    read_artifact,
    read_meta,
    write_artifact,
)
from headwater.artifacts.urls import StorageOptions, is_local, join_uri, local_path

__all__ = [
    "ArtifactError",
    "ArtifactMeta",
    "DataUnavailable",
    "StorageOptions",
    "UnreadableData",
    "UnstorableValue",
    "artifact_data_path",
    "fingerprint",
    "infer_format",
    "is_json_value",
    "is_local",
    "join_uri",
    "load_data",
    "local_path",
    "read_artifact",
    "read_bytes",
    "read_meta",
    "write_artifact",
]
