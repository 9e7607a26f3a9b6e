"""Matching what the function returned to its declared outputs, and storing them."""

import json
from collections.abc import Mapping, Sequence

from headwater.artifacts import ArtifactError, UnstorableValue, is_json_value, write_artifact
from headwater.runner.errors import InvalidTask, OutputMismatch, OutputUnstorable, RunnerError
from headwater.runner.result import VALUE_LIMIT_BYTES
from headwater.task import Task


def describe(value: object) -> str:
    kind = type(value).__name__
    if isinstance(value, Mapping):
        return f"a dict with keys {sorted(map(str, value))}"
    if isinstance(value, tuple | list):
        return f"a {kind} of {len(value)}"
    return f"a {kind}"


def split_outputs(returned: object, output_names: Sequence[str]) -> dict[str, object]:
    """Declared name → value. No names: a sink, the return value is ignored. One name: the
    return value itself. Several: a tuple or list in order, or a dict with exactly them."""
    names = list(output_names)
    if not names:
        return {}
    if len(names) == 1:
        return {names[0]: returned}
    if isinstance(returned, tuple | list) and len(returned) == len(names):
        return dict(zip(names, returned, strict=True))
    if isinstance(returned, Mapping) and set(returned) == set(names):
        return {name: returned[name] for name in names}
    raise OutputMismatch(
        f"the function declares {len(names)} outputs {names} and must return a tuple of"
        f" {len(names)} or a dict with those keys; it returned {describe(returned)}"
    )


def check_output_uris(task: Task) -> None:
    """Every declared output needs a place to go; checked before the function runs so a
    malformed task never costs a full computation."""
    missing = [name for name in task.output_names if name not in task.outputs]
    if missing:
        raise InvalidTask(f"the task gives no artifact URI for outputs {missing}")


def write_outputs(task: Task, values: Mapping[str, object]) -> dict[str, str]:
    """Store each output at its URI; returns declared name → URI."""
    written: dict[str, str] = {}
    for name, value in values.items():
        uri = task.outputs[name]
        try:
            write_artifact(uri, value, task.storage_options, fingerprint=task.fingerprint)
        except UnstorableValue as error:
            raise OutputUnstorable(f"output {name}: {error}") from error
        except ArtifactError as error:
            raise RunnerError(f"output {name}: {error}") from error
        written[name] = uri
    return written


def within_value_limit(value: object) -> bool:
    """Whether `value` is at most VALUE_LIMIT_BYTES as compact UTF-8 JSON, the way the
    termination message carries it. Encoding stops as soon as the limit is passed, so an
    output of a gigabyte costs no more than one of a kilobyte."""
    if isinstance(value, str) and len(value) > VALUE_LIMIT_BYTES:
        return False
    encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
    size = 0
    try:
        for chunk in encoder.iterencode(value):
            size += len(chunk.encode())
            if size > VALUE_LIMIT_BYTES:
                return False
    except (TypeError, ValueError, RecursionError):  # not JSON at all
        return False
    return True


def small_values(values: Mapping[str, object]) -> dict[str, object]:
    """The outputs a Run's status can show as they are: plain JSON, at most
    VALUE_LIMIT_BYTES each (checked first: it is bounded, the JSON check is not)."""
    return {
        name: value
        for name, value in values.items()
        if within_value_limit(value) and is_json_value(value)
    }
