"""What the transfer code passes around: digests, files in the store, what an
inspection of the store found. The in-cluster side prints these as JSON and the client
reads them back, so they are pydantic models."""

import hashlib
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from headwater.api.base import JsonValue
from headwater.artifacts import ArtifactMeta

BLOCK = 8 << 20
"""Bytes read or written at a time when streaming a file."""


class Progress(Protocol):
    """Told how many bytes a transfer moves once that is known, then each step."""

    def start(self, total: int) -> None: ...

    def advance(self, amount: int) -> None: ...


class NoProgress:
    """For callers that show none."""

    def start(self, total: int) -> None:
        pass

    def advance(self, amount: int) -> None:
        pass


class Digest(BaseModel):
    """What identifies a file's content: its size and SHA-256."""

    model_config = ConfigDict(frozen=True)

    size: int = Field(ge=0)
    sha256: str


def digest_file(path: Path) -> Digest:
    hasher = hashlib.sha256()
    size = 0
    with path.open("rb") as source:
        while block := source.read(BLOCK):
            hasher.update(block)
            size += len(block)
    return Digest(size=size, sha256=hasher.hexdigest())


class FoundArtifact(BaseModel):
    """An artifact directory of the store with its meta.json, and its value when that
    is a small JSON document (read so that it prints inline)."""

    directory: str
    """Relative to the store root: runs/<run>/<node>/<output>."""
    meta: ArtifactMeta
    value: JsonValue = None
    has_value: bool = False


class Inspection(BaseModel):
    """What the store holds under the paths asked about."""

    artifacts: list[FoundArtifact] = []
    files: dict[str, Digest | None] = {}
    """Relative path → its digest, None when there is no such file."""
