"""What the store keeps of one node attempt beside its log (`attempt-<n>.json`, see
headwater.artifacts.layout): written when the attempt starts, and again when it ends
with the runner's whole result — the message uncut, the full traceback — which the
4 KiB termination message cannot hold."""

from pydantic import Field

from headwater.api.base import ApiModel, Timestamp
from headwater.runner.result import RunnerResult


class AttemptRecord(ApiModel):
    """One attempt of one node."""

    attempt: int = Field(ge=1)
    """1 for the first attempt, one more for each retry."""
    run: str
    node: str
    started_at: Timestamp
    finished_at: Timestamp | None = None
    """None while the attempt runs, and for one killed before it could say how it
    ended."""
    result: RunnerResult | None = None
    """How it ended; None while it runs."""
    log_bytes: int = Field(default=0, ge=0)
    """Bytes the attempt printed (stdout and stderr), as far as the record knows."""
    log_dropped_bytes: int = Field(default=0, ge=0)
    """How many of the first bytes the stored log leaves out, to stay bounded."""
