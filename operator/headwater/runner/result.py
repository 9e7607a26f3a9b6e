"""The runner's report: exit code, a short message, output URIs, duration. Written as
JSON to the task's result path, which in a cluster is the container's termination
message file, so it must stay under Kubernetes' 4096-byte limit."""

import sys
from pathlib import Path

from pydantic import ValidationError

from headwater.api.base import ApiModel, JsonValue

RESULT_LIMIT_BYTES = 4096
"""Kubernetes keeps at most this many bytes of a container's termination message."""
MESSAGE_LIMIT_BYTES = 1024
"""Enough for an error's last lines; long messages are cut to leave room for outputs."""
ELLIPSIS = " …[truncated]"
OUTPUTS_OMITTED = " (output URIs omitted: too long for the result)"
VALUE_LIMIT_BYTES = 256
"""A plain-JSON output at most this long (compact JSON) travels in the result."""


class RunnerResult(ApiModel):
    """What happened to one node attempt."""

    exit_code: int
    """0 success, 1 failure worth retrying, 2 bad input."""
    message: str = ""
    """One line or a few: the outcome, or the error's last line(s)."""
    outputs: dict[str, str] = {}
    """Declared output name → artifact URI, for outputs that were written."""
    values: dict[str, JsonValue] = {}
    """Declared output name → the value itself, for small plain-JSON outputs (at most
    VALUE_LIMIT_BYTES each), so that a Run's status shows them without a download."""
    duration_seconds: float = 0.0
    """Wall-clock time of the attempt."""
    traceback: str | None = None
    """The whole traceback, when the attempt ended with one. Kept in the attempt's record
    in the store; the termination message leaves it out (the log has it too)."""

    def to_json(self, limit_bytes: int = RESULT_LIMIT_BYTES) -> str:
        """Compact camelCase JSON no longer than `limit_bytes`: the message is cut first;
        if output URIs alone overflow, they are dropped (the executor knows where it asked
        outputs to go) and the message says so."""
        bounded = self.model_copy(
            update={"message": truncate(self.message, MESSAGE_LIMIT_BYTES), "traceback": None}
        )
        text = bounded.model_dump_json(by_alias=True, exclude_none=True)
        if len(text.encode()) <= limit_bytes:
            return text
        # Values are a convenience (they are in the store too): they go before the URIs.
        bounded = bounded.model_copy(update={"values": {}})
        text = bounded.model_dump_json(by_alias=True, exclude_none=True)
        if len(text.encode()) <= limit_bytes:
            return text
        budget = MESSAGE_LIMIT_BYTES
        while True:
            # JSON escaping can lengthen a message, so shrink until the whole fits.
            message = truncate(self.message, budget) + OUTPUTS_OMITTED
            shrunk = bounded.model_copy(update={"message": message, "outputs": {}})
            text = shrunk.model_dump_json(by_alias=True, exclude_none=True)
            if len(text.encode()) <= limit_bytes or budget == 0:
                return text
            budget //= 2


def truncate(message: str, limit_bytes: int) -> str:
    """`message` cut to at most `limit_bytes` of UTF-8, never inside a character."""
    encoded = message.encode()
    if len(encoded) <= limit_bytes:
        return message
    keep = max(limit_bytes - len(ELLIPSIS.encode()), 0)
    return encoded[:keep].decode(errors="ignore") + ELLIPSIS


def write_result(result: RunnerResult, path: str | Path) -> None:
    """Write the result; a failure to do so is logged, never changes the exit code."""
    try:
        Path(path).write_text(result.to_json(), encoding="utf-8")
    except OSError as error:
        print(f"headwater: cannot write result to {path}: {error}", file=sys.stderr)


def parse_result(text: str | None) -> RunnerResult | None:
    """The runner's result read back by an executor; None when the text is not one (a log
    tail, when the runner died before writing its result, or output a user printed)."""
    if not text:
        return None
    try:
        return RunnerResult.model_validate_json(text)
    except ValidationError:
        return None
