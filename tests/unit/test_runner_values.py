"""Small plain-JSON outputs travel in the runner's result as values, so that a Run's
status shows them; the termination message stays within Kubernetes' 4 KiB whatever a
node returns."""

import json
from pathlib import Path

import numpy as np
import pytest

from headwater.api.function import ParamType
from headwater.limits import DATA_NAME_LENGTH, MAX_PARAMS
from headwater.runner import EXIT_SUCCESS, RunnerResult, run_task
from headwater.runner.outputs import small_values
from headwater.runner.result import RESULT_LIMIT_BYTES, VALUE_LIMIT_BYTES
from headwater.task import Task, TaskInput

QUOTES = 2


def compact(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def at_limit_nested() -> dict[str, object]:
    """A nested value exactly VALUE_LIMIT_BYTES long as compact JSON."""
    value: dict[str, object] = {"auc": 0.91, "labels": ["a", "b"], "deep": {"x": [1, {"y": ""}]}}
    value["deep"]["x"][1]["y"] = "z" * (VALUE_LIMIT_BYTES - len(compact(value)))  # type: ignore[index]
    assert len(compact(value)) == VALUE_LIMIT_BYTES
    return value


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("a" * (VALUE_LIMIT_BYTES - QUOTES), True),
        ("a" * (VALUE_LIMIT_BYTES - QUOTES + 1), False),
        # é is two bytes of UTF-8: the limit counts bytes, not characters.
        ("é" * ((VALUE_LIMIT_BYTES - QUOTES) // 2), True),
        ("é" * ((VALUE_LIMIT_BYTES - QUOTES) // 2) + "a", False),
        ("😀" * ((VALUE_LIMIT_BYTES - QUOTES) // 4) + "ab", True),
        ("😀" * ((VALUE_LIMIT_BYTES - QUOTES) // 4 + 1), False),
        # An escaped control character is six bytes in the JSON, one in the string.
        ("\x01" * 42 + "ab", True),
        ("\x01" * 43, False),
        (at_limit_nested(), True),
        ({**at_limit_nested(), "one": 1}, False),
        (200, True),
        (None, True),
        ([0] * 127, True),  # [0,0,…] at 255 bytes
        ([0] * 128, False),
    ],
)
def test_values_up_to_the_limit_as_compact_json_are_kept(value: object, kept: bool) -> None:
    assert (len(compact(value)) <= VALUE_LIMIT_BYTES) is kept
    assert small_values({"out": value}) == ({"out": value} if kept else {})


@pytest.mark.parametrize(
    "value",
    [(1, 2), np.int64(3), float("nan"), float("inf"), {1: "a"}, b"bytes", {"a": {1, 2}}],
)
def test_values_that_json_would_change_or_refuse_are_left_out(value: object) -> None:
    assert small_values({"out": value}) == {}


def test_a_huge_output_is_turned_down_without_encoding_all_of_it() -> None:
    huge = list(range(5_000_000))
    assert small_values({"big": huge, "small": 1}) == {"small": 1}


def test_the_runner_reports_small_outputs_as_values(tmp_path: Path) -> None:
    code = "def f(x):\n    return x * 20, 'é' * 200, {'auc': 0.91}, list(range(1000))\n"
    names = ["product", "long_text", "metrics", "numbers"]
    task = Task(
        run="r",
        node="n",
        handler="f",
        code=code,
        inputs=[TaskInput(param="x", type=ParamType.VALUE, value=10, has_value=True)],
        output_names=names,
        outputs={name: str(tmp_path / name) for name in names},
    )
    result = run_task(task)
    assert result.exit_code == EXIT_SUCCESS, result.message
    assert result.values == {"product": 200, "metrics": {"auc": 0.91}}
    assert set(result.outputs) == set(names)


def test_the_termination_message_fits_with_every_output_at_the_limit() -> None:
    """The worst a node can return: the most outputs a Function declares, each with the
    longest name, a long URI and a value at the limit, and a long message."""
    names = [f"{n:03d}".ljust(DATA_NAME_LENGTH, "o") for n in range(MAX_PARAMS)]
    root = "s3://a-bucket-with-a-long-name/" + "prefix/" * 20 + "team-a/runs/r/n"
    value = "é" * ((VALUE_LIMIT_BYTES - QUOTES) // 2)
    result = RunnerResult(
        exit_code=0,
        message="\x00" * 5000,
        outputs={name: f"{root}/{name}" for name in names},
        values=small_values(dict.fromkeys(names, value)),
        traceback="Traceback (most recent call last):\n" * 1000,
    )
    assert len(result.values) == MAX_PARAMS
    text = result.to_json()
    assert len(text.encode()) <= RESULT_LIMIT_BYTES
    decoded = RunnerResult.model_validate_json(text)
    assert decoded.values == {} and decoded.outputs == {} and decoded.traceback is None


def test_values_go_before_output_uris_when_both_do_not_fit() -> None:
    names = [f"o{n}" for n in range(40)]
    value = "v" * (VALUE_LIMIT_BYTES - QUOTES)
    result = RunnerResult(
        exit_code=0,
        outputs={name: f"/var/lib/headwater/store/runs/r/n/{name}" for name in names},
        values=dict.fromkeys(names, value),
    )
    decoded = json.loads(result.to_json())
    assert decoded["values"] == {} and decoded["outputs"] == result.outputs


def test_a_few_values_at_the_limit_travel_whole() -> None:
    names = ["a", "b", "c"]
    value = "v" * (VALUE_LIMIT_BYTES - QUOTES)
    result = RunnerResult(
        exit_code=0,
        message="succeeded; wrote 3 outputs",
        outputs={name: f"/var/lib/headwater/store/runs/r/n/{name}" for name in names},
        values=dict.fromkeys(names, value),
        traceback="not in the message",
    )
    text = result.to_json()
    assert len(text.encode()) <= RESULT_LIMIT_BYTES
    assert RunnerResult.model_validate_json(text) == result.model_copy(update={"traceback": None})
