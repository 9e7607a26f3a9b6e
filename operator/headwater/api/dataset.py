"""Dataset: named data a dataflow reads."""

from enum import StrEnum
from typing import Literal, Self

from pydantic import Field, model_validator

from headwater.api.base import ApiModel, JsonValue, Timestamp, exactly_one_of
from headwater.api.conditions import Condition
from headwater.api.meta import KeyRef, ObjectMeta
from headwater.limits import DESCRIPTION_LENGTH, URI_LENGTH


class DataFormat(StrEnum):
    """How the bytes of a dataset or artifact are read."""

    PARQUET = "parquet"
    CSV = "csv"
    JSON = "json"
    NPY = "npy"
    PICKLE = "pickle"
    PT = "pt"
    TEXT = "text"
    BYTES = "bytes"


class DatasetSource(ApiModel):
    """Where the data is: exactly one of uri, configMapKeyRef, secretKeyRef, inline."""

    model_config = exactly_one_of("uri", "configMapKeyRef", "secretKeyRef", "inline")

    uri: str | None = Field(default=None, min_length=1, max_length=URI_LENGTH)
    """An fsspec URL (file://, s3://, gs://, https://…) or a path; a relative path resolves
    against the manifest's folder locally and the artifact store's root in a cluster."""
    config_map_key_ref: KeyRef | None = None
    """A key of a ConfigMap in the same namespace (data or binaryData)."""
    secret_key_ref: KeyRef | None = None
    """A key of a Secret in the same namespace."""
    inline: JsonValue = None
    """Small JSON values written in the manifest itself: nested at most 32 deep, at most
    64 KiB as compact JSON."""

    @model_validator(mode="after")
    def exactly_one(self) -> Self:
        given = [
            name
            for name in ("uri", "config_map_key_ref", "secret_key_ref", "inline")
            if getattr(self, name) is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "source needs exactly one of uri, configMapKeyRef, secretKeyRef, inline;"
                f" got {len(given)}"
            )
        return self

    @property
    def kind(self) -> Literal["uri", "configMap", "secret", "inline"]:
        if self.uri is not None:
            return "uri"
        if self.config_map_key_ref is not None:
            return "configMap"
        if self.secret_key_ref is not None:
            return "secret"
        return "inline"


class DatasetSpec(ApiModel):
    """Named data: a URI, a ConfigMap or Secret key, or inline values."""

    description: str | None = Field(default=None, max_length=DESCRIPTION_LENGTH)
    """What the data is, for people."""
    format: DataFormat | None = None
    """How to read it; inferred from the source's file extension when left out
    (json for inline values, bytes when nothing else fits)."""
    source: DatasetSource
    """Where the data is."""


class DatasetStatus(ApiModel):
    """What the operator found when it last checked the source."""

    conditions: list[Condition] = []
    """Ready: the source is reachable and readable."""
    uri: str | None = None
    """The resolved location of the data."""
    size: int | None = None
    """Size in bytes."""
    sha256: str | None = None
    """Hex SHA-256 of the content, where the operator can know it without reading a
    remote file (inline values, ConfigMap keys, files pushed to the store)."""
    version: str | None = None
    """What the source reports for its content (an ETag, version id or modification
    time); it changes when the content does."""
    format: DataFormat | None = None
    """The format in effect, given or inferred."""
    last_checked: Timestamp | None = None
    """When the source was last checked."""
    observed_generation: int | None = None
    """The metadata.generation this status describes."""


class Dataset(ApiModel):
    api_version: str = "headwater.dev/v1alpha1"
    kind: Literal["Dataset"] = "Dataset"
    metadata: ObjectMeta
    spec: DatasetSpec
    status: DatasetStatus | None = None
