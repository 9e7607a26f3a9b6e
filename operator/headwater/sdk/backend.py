"""What the Python API needs of a place that runs Runs — the local workspace or a
cluster namespace — so that Client and RunHandle are written once for both."""

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from headwater.api import Run, RunStatus

if TYPE_CHECKING:
    from headwater.transfer import Output

Manifest = dict[str, Any]
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
"""What Kubernetes' generateName draws from: no vowels, so no words."""
SUFFIX_LENGTH = 5


@dataclass(frozen=True)
class RunRecord:
    """A Run as its place holds it, with when it was created (for ages, and for telling
    a Run no operator has looked at yet from one it just received)."""

    run: Run
    created: datetime | None

    @property
    def name(self) -> str:
        return self.run.metadata.name


@dataclass(frozen=True)
class CachedResult:
    """One result later Runs with the cache on may reuse."""

    fingerprint: str
    run: str
    node: str
    function: str
    outputs: list[str]
    finished_at: datetime


@dataclass(frozen=True)
class LogChunk:
    """Text one attempt of one node printed."""

    node: str
    attempt: int
    text: str


class Backend(Protocol):
    where: str
    """For messages: `workspace .headwater`, `namespace team-a`."""

    def apply(self, documents: list[Manifest]) -> list[str]:
        """Create or update each object; one line per object (`Function/x configured`)."""

    def push_dataset(self, name: str, path: Path, data_format: str | None) -> str:
        """Put the file in the store and point Dataset `name` at it; what happened."""

    def create_run(self, run: Run) -> None: ...

    def read_run(self, name: str) -> RunRecord | None: ...

    def list_runs(self) -> list[RunRecord]: ...

    def stop_run(self, name: str) -> None: ...

    def delete_run(self, name: str) -> None: ...

    def unserved(self, record: RunRecord, after_seconds: float) -> str | None:
        """Why nothing will ever look at this Run (no operator), once it has waited
        `after_seconds` with an empty status; None while it may still be picked up."""

    def outputs(self, record: RunRecord) -> "list[Output]": ...

    def download(self, record: RunRecord, name: str | None, into: Path) -> list[Path]:
        """Output `name` (or all) into `into/<node>/<output>/`; the data files."""

    def logs(self, record: RunRecord, wanted: list[tuple[str, int | None]]) -> list[LogChunk]:
        """What each (node, attempt) printed, the latest attempt for None: in one go,
        since reading a store through Jobs costs a Job per call."""

    def follow(self, name: str, nodes: list[str] | None) -> Iterator[LogChunk]:
        """What the Run's nodes (or `nodes`) print, as they print it, until it ends."""

    def cache_entries(self) -> list[CachedResult]: ...

    def clear_cache(self, run: str | None) -> int: ...


def generated_name(dataflow: str) -> str:
    """`<dataflow>-<5 characters>`, within a Run name's 63, as generateName makes them."""
    stem = dataflow[: 63 - SUFFIX_LENGTH - 1].rstrip("-.")
    suffix = "".join(secrets.choice(NAME_ALPHABET) for _ in range(SUFFIX_LENGTH))
    return f"{stem}-{suffix}"


def empty(status: RunStatus | None) -> bool:
    """No status at all: nothing (no operator, no local driver) has looked at the Run."""
    return status is None or status == RunStatus()
