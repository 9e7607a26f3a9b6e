"""Deeply nested JSON: the models reject it without recursing on it, and after
`allow_deep_json` every thread can parse the deepest document the API server stores."""

import datetime
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from headwater.api import Dataflow, Dataset, Function, Run
from headwater.deepjson import API_SERVER_DEPTH, json_problem
from headwater.limits import JSON_BYTES, JSON_DEPTH


def nested(depth: int, leaf: Any = 1) -> Any:
    """A list `depth` deep, built without recursion."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def run_body(value: Any) -> dict[str, Any]:
    parameters = {"x": {"value": value}}
    return {"metadata": {"name": "r"}, "spec": {"dataflow": "f", "parameters": parameters}}


def function_body(default: Any) -> dict[str, Any]:
    params = [{"name": "x", "type": "value", "default": default}]
    spec = {"handler": "main", "code": {"inline": "def main(x): pass"}, "params": params}
    return {"metadata": {"name": "f"}, "spec": spec}


def dataset_body(inline: Any) -> dict[str, Any]:
    return {"metadata": {"name": "d"}, "spec": {"source": {"inline": inline}}}


def dataflow_body(inputs: Any) -> dict[str, Any]:
    return {"metadata": {"name": "df"}, "spec": {"nodes": [{"function": "f", "inputs": inputs}]}}


@pytest.fixture
def default_recursion_limit() -> Iterator[None]:
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    yield
    sys.setrecursionlimit(before)


FREE_FORM = {
    "spec.parameters.x.value": (Run, run_body),
    "spec.params.0.default": (Function, function_body),
    "spec.source.inline": (Dataset, dataset_body),
    "spec.nodes.0.inputs": (Dataflow, dataflow_body),
}


def test_depth_up_to_the_limit() -> None:
    assert json_problem(nested(JSON_DEPTH), JSON_DEPTH, JSON_BYTES) is None
    assert json_problem(nested(JSON_DEPTH + 1), JSON_DEPTH, JSON_BYTES) == (
        f"nested more than {JSON_DEPTH} levels deep (lists and objects)"
    )
    deep_map: Any = 1
    for _ in range(JSON_DEPTH + 1):
        deep_map = {"k": deep_map}
    assert "nested more than" in (json_problem(deep_map, JSON_DEPTH, JSON_BYTES) or "")


def test_size_up_to_the_limit_as_compact_json() -> None:
    # A string whose JSON (quotes included) is exactly the limit, then one byte more.
    at_limit = ["a" * (JSON_BYTES - 4)]  # [" + … + "]
    assert len(json.dumps(at_limit, separators=(",", ":")).encode()) == JSON_BYTES
    assert json_problem(at_limit, JSON_DEPTH, JSON_BYTES) is None
    over = ["a" * (JSON_BYTES - 3)]
    assert json_problem(over, JSON_DEPTH, JSON_BYTES) == f"more than {JSON_BYTES} bytes as JSON"
    wide = list(range(JSON_BYTES))  # many small members: counted, not walked to the end
    assert json_problem(wide, JSON_DEPTH, JSON_BYTES) == f"more than {JSON_BYTES} bytes as JSON"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (datetime.date(2024, 1, 1), "a date is not JSON; quote it to make it a string"),
        ({1: "a"}, "object keys are strings; found a int"),
        (float("nan"), "nan is not a JSON number"),
        ([float("inf")], "inf is not a JSON number"),
        (2**63, "a number beyond 64 bits, which Kubernetes cannot store"),
        (b"bytes", "a bytes is not JSON; quote it to make it a string"),
    ],
)
def test_values_kubernetes_cannot_store_are_named(value: Any, problem: str) -> None:
    assert json_problem(value, JSON_DEPTH, JSON_BYTES) == problem


@pytest.mark.parametrize("field", sorted(FREE_FORM))
def test_the_deepest_value_the_api_server_stores_is_rejected_without_recursion(
    field: str, default_recursion_limit: None
) -> None:
    """At Python's default recursion limit, so no step recursed once per level."""
    model, body = FREE_FORM[field]
    with pytest.raises(ValidationError) as raised:
        model.model_validate(body(nested(API_SERVER_DEPTH - 5)))
    [error] = raised.value.errors()
    assert ".".join(map(str, error["loc"])) == field
    expected = "inputs is a list" if field.endswith("inputs") else "nested more than 32"
    assert expected in error["msg"]
    # Everything that reports the error stays shallow too: nothing echoes the value.
    assert field in str(raised.value)
    assert "input_value" not in str(raised.value)
    assert len(raised.value.json(include_input=False)) < 1000


def test_free_form_fields_take_values_at_the_limits() -> None:
    largest = ["a" * (JSON_BYTES - 4)]
    deepest = nested(JSON_DEPTH - 1, leaf=[1])
    for value in (largest, deepest):
        assert Run.model_validate(run_body(value)).spec.parameters["x"].value == value
        assert Dataset.model_validate(dataset_body(value)).spec.source.inline == value
        assert Function.model_validate(function_body(value)).spec.params[0].default == value


PARSE_DEEPEST = textwrap.dedent(
    """
    import copy, json, sys, threading
    from pydantic import ValidationError
    from headwater.api import Run
    from headwater.deepjson import API_SERVER_DEPTH, allow_deep_json

    if sys.argv[1] == "prepared":
        support = allow_deep_json()
        print("recursion", support.recursion_limit, "stack", support.thread_stack_bytes)
    depth = API_SERVER_DEPTH - 4  # inside {spec: {parameters: {x: {value: …}}}}
    text = (
        '{"metadata": {"name": "r"}, "spec": {"dataflow": "f", "parameters": {"x": {"value": '
        + "[" * depth + "1" + "]" * depth + "}}}}"
    )

    def parse_and_validate(where):
        try:
            body = json.loads(text)  # what kopf's watch does with every event
            # What a watcher or a log line may do with a body, before anyone validates it.
            assert copy.deepcopy(body) == body and json.loads(json.dumps(body)) == body
            assert len(repr(body)) > 20000
            Run.model_validate(body)
        except ValidationError as error:
            print(where, "rejected", error.errors()[0]["loc"])
        except RecursionError:
            print(where, "RecursionError")

    parse_and_validate("main")
    worker = threading.Thread(target=parse_and_validate, args=("thread",))
    worker.start()
    worker.join()
    """
)


def parse_deepest(mode: str) -> list[str]:
    process = subprocess.run(
        [sys.executable, "-c", PARSE_DEEPEST, mode], capture_output=True, text=True, timeout=120
    )
    assert process.returncode == 0, process.stderr  # a C stack overflow would be -11
    return process.stdout.splitlines()


def test_after_allow_deep_json_every_thread_parses_the_deepest_document() -> None:
    recursion, *outcomes = parse_deepest("prepared")
    assert recursion == "recursion 40000 stack 67108864"
    where = "('spec', 'parameters', 'x', 'value')"
    assert outcomes == [f"main rejected {where}", f"thread rejected {where}"]


def test_without_it_the_parsers_raise_recursion_error() -> None:
    assert parse_deepest("default") == ["main RecursionError", "thread RecursionError"]
