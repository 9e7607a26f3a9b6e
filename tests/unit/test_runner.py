"""The runner: in process through run_task, and as `python -m headwater.runner`."""

import json
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import fsspec
import numpy as np
import pandas as pd
import pytest

from headwater.api.dataset import DataFormat
from headwater.api.function import ParamType
from headwater.artifacts import read_artifact, read_meta, write_artifact
from headwater.runner import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_SUCCESS, RunnerResult, run_task
from headwater.runner.result import RESULT_LIMIT_BYTES
from headwater.task import Task, TaskInput

SPLIT_CODE = textwrap.dedent(
    """
    def split(numbers, at, as_dict=False):
        head, tail = numbers[:at], numbers[at:]
        if as_dict:
            return {"tail": tail, "head": head}
        return head, tail
    """
)


def literal(param: str, value: object, param_type: ParamType = ParamType.VALUE) -> TaskInput:
    return TaskInput(param=param, type=param_type, value=value, has_value=True)


def make_task(tmp_path: Path, code: str, handler: str, **fields: object) -> Task:
    output_names = fields.pop("output_names", [])
    return Task(
        run="run-1",
        node="node-a",
        handler=handler,
        code=code,
        output_names=output_names,
        outputs={name: str(tmp_path / "store" / name) for name in output_names},
        **fields,
    )


def run_cli(tmp_path: Path, task: Task) -> tuple[subprocess.CompletedProcess[str], dict]:
    """Run the real module in a subprocess; returns the process and its result JSON."""
    result_path = tmp_path / "result.json"
    task_file = tmp_path / "task.json"
    task = task.model_copy(update={"result_path": str(result_path)})
    task_file.write_text(json.dumps(task.to_wire()))
    process = subprocess.run(
        [sys.executable, "-m", "headwater.runner", str(task_file)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return process, json.loads(result_path.read_text())


@pytest.mark.parametrize("as_dict", [False, True])
def test_two_outputs_from_tuple_or_dict(tmp_path: Path, as_dict: bool) -> None:
    task = make_task(
        tmp_path,
        SPLIT_CODE,
        "split",
        inputs=[
            literal("numbers", [1, 2, 3, 4], ParamType.ARTIFACT),
            literal("at", 1),
            literal("as_dict", as_dict),
        ],
        output_names=["head", "tail"],
    )
    result = run_task(task)
    assert result.exit_code == EXIT_SUCCESS, result.message
    assert result.outputs == task.outputs
    assert read_artifact(task.outputs["head"]) == [1]
    assert read_artifact(task.outputs["tail"]) == [2, 3, 4]
    assert read_meta(task.outputs["tail"]).serializer == "json"


def test_sink_ignores_its_return_value(tmp_path: Path) -> None:
    task = make_task(tmp_path, "def sink():\n    return 42\n", "sink")
    result = run_task(task)
    assert (result.exit_code, result.outputs) == (EXIT_SUCCESS, {})
    assert not (tmp_path / "store").exists()


def test_single_output_is_the_return_value_even_a_tuple(tmp_path: Path) -> None:
    task = make_task(tmp_path, "def pair():\n    return (1, 2)\n", "pair", output_names=["p"])
    assert run_task(task).exit_code == EXIT_SUCCESS
    assert read_artifact(task.outputs["p"]) == (1, 2)


INSPECT_CODE = textwrap.dedent(
    """
    import pathlib

    def inspect(frame_path, frame, grid, upstream_path, upstream, upstream_value,
                literal_path, literal_obj, remote_path):
        return {
            "frame_path": [frame_path, pathlib.Path(frame_path).read_bytes()[:4].decode()],
            "frame": frame["rain"].tolist(),
            "grid": grid,
            "upstream_path": [upstream_path, upstream_path.endswith("data.npy")],
            "upstream": upstream.tolist(),
            "upstream_value": upstream_value,
            "literal_path": pathlib.Path(literal_path).read_text(),
            "literal_obj": literal_obj,
            "remote_path": pathlib.Path(remote_path).read_text(),
        }
    """
)


def test_path_artifact_and_value_inputs(tmp_path: Path) -> None:
    frame_file = tmp_path / "rain.parquet"
    pd.DataFrame({"rain": [0.5, 1.5]}).to_parquet(frame_file)
    grid_file = tmp_path / "grid.json"
    grid_file.write_text('{"cells": 3}')
    array_artifact = str(tmp_path / "store" / "upstream" / "array")
    write_artifact(array_artifact, np.arange(3))
    json_artifact = str(tmp_path / "store" / "upstream" / "settings")
    write_artifact(json_artifact, {"threshold": 0.7})
    remote_file = f"memory://headwater-tests/{uuid.uuid4().hex}/notes.txt"
    with fsspec.open(remote_file, "w") as file:
        file.write("from afar")

    task = make_task(
        tmp_path,
        INSPECT_CODE,
        "inspect",
        inputs=[
            TaskInput(param="frame_path", type=ParamType.PATH, dataset_uri=f"file://{frame_file}"),
            TaskInput(param="frame", type=ParamType.ARTIFACT, dataset_uri=str(frame_file)),
            TaskInput(
                param="grid", type=ParamType.VALUE, dataset_uri=str(grid_file), format="json"
            ),
            TaskInput(param="upstream_path", type=ParamType.PATH, artifact_uri=array_artifact),
            TaskInput(param="upstream", type=ParamType.ARTIFACT, artifact_uri=array_artifact),
            TaskInput(param="upstream_value", type=ParamType.VALUE, artifact_uri=json_artifact),
            literal("literal_path", {"a": [1, None]}, ParamType.PATH),
            literal("literal_obj", None, ParamType.ARTIFACT),
            TaskInput(param="remote_path", type=ParamType.PATH, dataset_uri=remote_file),
        ],
        output_names=["report"],
    )
    result = run_task(task)
    assert result.exit_code == EXIT_SUCCESS, result.message
    report = read_artifact(task.outputs["report"])
    assert report["frame_path"] == [str(frame_file), "PAR1"]  # local: the file itself
    assert report["frame"] == [0.5, 1.5]
    assert report["grid"] == {"cells": 3}
    assert report["upstream_path"] == [str(tmp_path / "store/upstream/array/data.npy"), True]
    assert report["upstream"] == [0, 1, 2]
    assert report["upstream_value"] == {"threshold": 0.7}
    assert json.loads(report["literal_path"]) == {"a": [1, None]}
    assert report["literal_obj"] is None
    assert report["remote_path"] == "from afar"  # downloaded to a local temp file


def test_dataset_format_is_inferred_when_absent(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.ones(2))
    task = make_task(
        tmp_path,
        "def total(a):\n    return float(a.sum())\n",
        "total",
        inputs=[TaskInput(param="a", type=ParamType.ARTIFACT, dataset_uri=str(tmp_path / "a.npy"))],
        output_names=["sum"],
    )
    assert run_task(task).exit_code == EXIT_SUCCESS
    assert read_artifact(task.outputs["sum"]) == 2.0


def test_handler_from_module(tmp_path: Path) -> None:
    task = Task(
        run="run-1",
        node="shorten",
        handler="shorten",
        module="textwrap",
        inputs=[literal("text", "hello brave new world"), literal("width", 12)],
        output_names=["short"],
        outputs={"short": str(tmp_path / "short")},
    )
    assert run_task(task).exit_code == EXIT_SUCCESS
    assert read_artifact(str(tmp_path / "short")) == "hello [...]"


def test_handler_from_a_code_file(tmp_path: Path) -> None:
    source = tmp_path / "double.py"
    source.write_text("def double(x):\n    return 2 * x\n")
    task = make_task(tmp_path, "", "double", inputs=[literal("x", 21)], output_names=["y"])
    task = task.model_copy(update={"code": None, "code_file": str(source)})
    assert run_task(task).exit_code == EXIT_SUCCESS
    assert read_artifact(task.outputs["y"]) == 42
    missing = task.model_copy(update={"code_file": str(tmp_path / "gone.py")})
    result = run_task(missing)
    assert result.exit_code == 2
    assert "cannot read the function's code" in result.message


@pytest.mark.parametrize(
    ("code", "handler", "message"),
    [
        ("def f(:\n", "f", "does not compile: "),
        ("def g():\n    pass\n", "f", "defines no 'f'"),
        ("f = 3\n", "f", "'f' in the function's code is not callable"),
        ("import headwater_no_such_package\n", "f", "ModuleNotFoundError"),
    ],
)
def test_unusable_code_is_bad_input(tmp_path: Path, code: str, handler: str, message: str) -> None:
    result = run_task(make_task(tmp_path, code, handler))
    assert result.exit_code == EXIT_BAD_INPUT
    assert message in result.message


def test_wrong_output_count_is_bad_input(tmp_path: Path) -> None:
    task = make_task(tmp_path, "def f():\n    return 1, 2, 3\n", "f", output_names=["a", "b"])
    result = run_task(task)
    assert result.exit_code == EXIT_BAD_INPUT
    assert "returned a tuple of 3" in result.message
    assert not (tmp_path / "store").exists()


def test_dict_with_other_keys_is_bad_input(tmp_path: Path) -> None:
    task = make_task(
        tmp_path, "def f():\n    return {'a': 1, 'c': 2}\n", "f", output_names=["a", "b"]
    )
    result = run_task(task)
    assert result.exit_code == EXIT_BAD_INPUT
    assert "dict with keys ['a', 'c']" in result.message


def test_unstorable_output_is_bad_input(tmp_path: Path) -> None:
    task = make_task(tmp_path, "def f():\n    return (n for n in [])\n", "f", output_names=["g"])
    result = run_task(task)
    assert result.exit_code == EXIT_BAD_INPUT
    assert "output g:" in result.message


def test_input_with_two_sources_is_bad_input(tmp_path: Path) -> None:
    both = TaskInput(param="x", type=ParamType.VALUE, value=1, has_value=True, artifact_uri="/a")
    result = run_task(make_task(tmp_path, "def f(x):\n    pass\n", "f", inputs=[both]))
    assert result.exit_code == EXIT_BAD_INPUT
    assert "input x needs exactly one of" in result.message


def test_output_without_uri_is_caught_before_the_call(tmp_path: Path) -> None:
    marker = tmp_path / "called"
    code = f"def f():\n    open({str(marker)!r}, 'w').close()\n    return 1\n"
    task = make_task(tmp_path, code, "f").model_copy(update={"output_names": ["x"]})
    result = run_task(task)
    assert result.exit_code == EXIT_BAD_INPUT
    assert not marker.exists()


def test_success_through_the_cli(tmp_path: Path) -> None:
    code = SPLIT_CODE + "\nprint('module loaded')\n"
    task = make_task(
        tmp_path,
        code,
        "split",
        inputs=[literal("numbers", [5, 6], ParamType.ARTIFACT), literal("at", 1)],
        output_names=["head", "tail"],
    )
    process, result = run_cli(tmp_path, task)
    assert process.returncode == EXIT_SUCCESS, process.stderr
    assert process.stdout == "module loaded\n"  # only the function's own prints
    assert result["exitCode"] == EXIT_SUCCESS
    assert result["outputs"] == task.outputs
    assert result["durationSeconds"] >= 0
    assert read_artifact(task.outputs["tail"]) == [6]


def test_exception_exits_1_with_the_traceback_last_line(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        def check(frames):
            validate(frames)

        def validate(frames):
            raise ValueError(f"bad radar: {len(frames)} frames")
        """
    )
    task = make_task(
        tmp_path, code, "check", inputs=[literal("frames", [1, 2])], filename="preprocessing.py"
    )
    process, result = run_cli(tmp_path, task)
    assert process.returncode == EXIT_FAILURE
    assert result["exitCode"] == EXIT_FAILURE
    # The last line, and the line of the user's file it came from.
    assert result["message"] == (
        "ValueError: bad radar: 2 frames (at preprocessing.py, line 6:"
        ' raise ValueError(f"bad radar: {len(frames)} frames"))'
    )
    assert "Traceback (most recent call last)" in process.stderr
    # Tracebacks name the file the code came from and show its source lines.
    assert 'File "preprocessing.py", line 6, in validate' in process.stderr
    assert 'raise ValueError(f"bad radar: {len(frames)} frames")' in process.stderr
    assert process.stdout == ""


def test_an_error_inside_a_library_points_at_the_users_line(tmp_path: Path) -> None:
    code = "import json\n\ndef parse(text):\n    return json.loads(text)\n"
    task = make_task(tmp_path, code, "parse", inputs=[literal("text", "{")], filename="p.py")
    result = run_task(task)
    assert result.exit_code == EXIT_FAILURE
    assert result.message.startswith("json.decoder.JSONDecodeError: Expecting property name")
    assert result.message.endswith("(at p.py, line 4: return json.loads(text))")


def test_a_module_body_that_fails_names_its_line(tmp_path: Path) -> None:
    task = make_task(tmp_path, "x = 1\ny = 1 / 0\n", "main", filename="broken.py")
    result = run_task(task)
    assert result.exit_code == EXIT_BAD_INPUT
    assert result.message == (
        "the function's code failed to load: ZeroDivisionError: division by zero"
        " (at broken.py, line 2: y = 1 / 0)"
    )


def test_missing_dataset_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "radar.parquet"
    task = make_task(
        tmp_path,
        "def f(radar):\n    return radar\n",
        "f",
        inputs=[
            TaskInput(
                param="radar",
                type=ParamType.ARTIFACT,
                dataset_uri=str(missing),
                format=DataFormat.PARQUET,
            )
        ],
    )
    process, result = run_cli(tmp_path, task)
    assert process.returncode == EXIT_BAD_INPUT
    assert result["exitCode"] == EXIT_BAD_INPUT
    assert result["message"] == f"input radar: {missing}: no such file"


def test_missing_handler_exits_2(tmp_path: Path) -> None:
    process, result = run_cli(tmp_path, make_task(tmp_path, "def other():\n    pass\n", "f"))
    assert process.returncode == EXIT_BAD_INPUT
    assert result["message"] == "the function's code defines no 'f'"


def test_wrong_output_count_exits_2(tmp_path: Path) -> None:
    task = make_task(tmp_path, "def f():\n    return 1\n", "f", output_names=["a", "b"])
    process, result = run_cli(tmp_path, task)
    assert process.returncode == EXIT_BAD_INPUT
    assert "declares 2 outputs" in result["message"]


def test_invalid_task_file_exits_2_and_still_reports(tmp_path: Path) -> None:
    result_path = tmp_path / "result.json"
    task_file = tmp_path / "task.yaml"
    task_file.write_text(f"run: r\nnode: n\nresultPath: {result_path}\n")  # no handler
    process = subprocess.run(
        [sys.executable, "-m", "headwater.runner", str(task_file)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == EXIT_BAD_INPUT
    result = json.loads(result_path.read_text())
    assert result["exitCode"] == EXIT_BAD_INPUT
    assert "invalid task file" in result["message"]
    assert "handler" in result["message"]


def test_missing_task_file_exits_2(tmp_path: Path) -> None:
    process = subprocess.run(
        [sys.executable, "-m", "headwater.runner", str(tmp_path / "absent.json")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == EXIT_BAD_INPUT
    assert "cannot read task file" in process.stderr


def test_huge_error_message_keeps_the_result_small(tmp_path: Path) -> None:
    code = "def f():\n    raise RuntimeError('boom ' * 5000)\n"
    process, result = run_cli(tmp_path, make_task(tmp_path, code, "f"))
    assert process.returncode == EXIT_FAILURE
    assert len((tmp_path / "result.json").read_bytes()) < RESULT_LIMIT_BYTES
    assert result["message"].startswith("RuntimeError: boom boom")
    assert result["message"].endswith("…[truncated]")


def test_result_json_is_bounded_even_with_many_outputs() -> None:
    outputs = {f"output_{n}": f"s3://bucket/runs/run/node/output_{n}" * 3 for n in range(200)}
    result = RunnerResult(exit_code=0, message="\x00" * 5000, outputs=outputs)
    text = result.to_json()
    assert len(text.encode()) <= RESULT_LIMIT_BYTES
    decoded = json.loads(text)
    assert decoded["outputs"] == {}
    assert decoded["message"].startswith("\x00")
    assert decoded["message"].endswith(
        "…[truncated] (output URIs omitted: too long for the result)"
    )


def test_small_result_is_kept_whole() -> None:
    result = RunnerResult(exit_code=0, message="ok", outputs={"x": "/s/x"}, duration_seconds=1.5)
    assert json.loads(result.to_json()) == {
        "exitCode": 0,
        "message": "ok",
        "outputs": {"x": "/s/x"},
        "values": {},
        "durationSeconds": 1.5,
    }
