"""Status conditions as the Kubernetes API conventions define them."""

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from headwater.api.base import ApiModel, Timestamp, now

MAX_MESSAGE = 4096
"""Condition messages are cut here, once for every caller: a message listing hundreds
of problems must still leave a status the API server takes."""


class ConditionStatus(StrEnum):
    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(ApiModel):
    """An observation of one aspect of a resource's state."""

    type: str = Field(max_length=316)
    """The aspect observed, an adjective or past participle: Ready, Succeeded, Running."""
    status: ConditionStatus
    """True, False or Unknown."""
    reason: str = Field(max_length=1024)
    """A CamelCase word a program can match on, saying why the status is what it is."""
    message: str = Field(default="", max_length=32768)
    """A sentence for people: what happened, what to do."""
    last_transition_time: Timestamp
    """When status last changed from one value to another."""
    observed_generation: int | None = Field(default=None, ge=0)
    """The metadata.generation this condition was computed from."""


def set_condition(
    conditions: list[Condition],
    type: str,
    status: ConditionStatus | bool,
    reason: str,
    message: str = "",
    observed_generation: int | None = None,
    at: datetime | None = None,
) -> list[Condition]:
    """Return conditions with `type` set; its lastTransitionTime moves only when status flips."""
    if isinstance(status, bool):
        status = ConditionStatus.TRUE if status else ConditionStatus.FALSE
    previous = find_condition(conditions, type)
    transition = (
        previous.last_transition_time
        if previous is not None and previous.status == status
        else (at or now())
    )
    updated = Condition(
        type=type,
        status=status,
        reason=reason,
        message=bounded_message(message),
        last_transition_time=transition,
        observed_generation=observed_generation,
    )
    others = [c for c in conditions if c.type != type]
    position = next((i for i, c in enumerate(conditions) if c.type == type), len(others))
    return [*others[:position], updated, *others[position:]]


def bounded_message(message: str, limit: int = MAX_MESSAGE) -> str:
    """`message` within `limit` characters, saying how much was cut."""
    if len(message) <= limit:
        return message
    note = f" … ({len(message) - limit} more characters)"
    return message[: limit - len(note)] + note


def find_condition(conditions: list[Condition], type: str) -> Condition | None:
    return next((c for c in conditions if c.type == type), None)


def is_true(conditions: list[Condition], type: str) -> bool:
    """A missing condition is Unknown, so not true."""
    found = find_condition(conditions, type)
    return found is not None and found.status == ConditionStatus.TRUE
