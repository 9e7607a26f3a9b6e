"""Typed failures of the artifact store and dataset reading; every message names the URI."""


class ArtifactError(Exception):
    """Base of every store failure. Raised as such for I/O that may succeed on a retry."""

    def __init__(self, uri: str, reason: str) -> None:
        super().__init__(f"{uri}: {reason}")
        self.uri = uri
        self.reason = reason


class DataUnavailable(ArtifactError):
    """There is no data at the URI (missing file, missing artifact)."""


class UnreadableData(ArtifactError):
    """Data exists at the URI but cannot be decoded as expected (corrupt, wrong format)."""


class UnstorableValue(ArtifactError):
    """An object that no serializer can write."""
