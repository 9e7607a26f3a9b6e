"""`async def` handlers are awaited: what they return is stored, what they raise fails
the node (exit 1), as for any other handler."""

import textwrap
from pathlib import Path

from test_runner import literal, make_task, run_cli

from headwater.api.function import ParamType
from headwater.artifacts import read_artifact
from headwater.runner import EXIT_FAILURE, EXIT_SUCCESS

ASYNC_CODE = textwrap.dedent(
    """
    import asyncio

    async def add_one(x):
        await asyncio.sleep(0)
        return x + 1

    def returns_awaitable(x):
        return add_one(x)

    async def sink(x):
        await asyncio.sleep(0)
        raise ValueError(f"sink refused {x}")
    """
)


def test_an_async_transformer_runs_and_its_result_is_stored(tmp_path: Path) -> None:
    for handler in ("add_one", "returns_awaitable"):
        (tmp_path / handler).mkdir()
        task = make_task(
            tmp_path / handler,
            ASYNC_CODE,
            handler,
            inputs=[literal("x", 41, ParamType.VALUE)],
            output_names=["y"],
        )
        process, result = run_cli(tmp_path / handler, task)
        assert process.returncode == EXIT_SUCCESS, process.stderr
        assert result["exitCode"] == EXIT_SUCCESS, result
        assert read_artifact(task.outputs["y"]) == 42


def test_an_async_sink_that_raises_fails_the_node(tmp_path: Path) -> None:
    task = make_task(tmp_path, ASYNC_CODE, "sink", inputs=[literal("x", 7, ParamType.VALUE)])
    process, result = run_cli(tmp_path, task)
    assert process.returncode == EXIT_FAILURE, process.stderr
    assert result["exitCode"] == EXIT_FAILURE
    assert result["message"].startswith("ValueError: sink refused 7 (at ")
    # The traceback shows the user's frames, not the event loop's.
    traceback = process.stderr[process.stderr.index("Traceback") :]
    assert 'File "<node node-a>"' in traceback, traceback
    assert "asyncio" not in traceback.split("\n")[1], traceback
