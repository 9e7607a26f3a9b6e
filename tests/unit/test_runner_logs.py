"""Each attempt's log and record in the store: the tee of fds 1 and 2, the bounded spool,
attempt numbers, SIGTERM, and reading them back with headwater.logs. The runner runs as
a real process (`python -m headwater.runner`), as an executor starts it."""

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from headwater import logs
from headwater.api.function import ParamType
from headwater.artifacts import layout
from headwater.runner.bookkeeping import next_attempt
from headwater.runner.spool import HEADER, LOG_LIMIT_BYTES, Spool, header_of
from headwater.runner.stopping import EXIT_STOPPED
from headwater.task import Task, TaskInput

RUN, NODE = "r", "n"
MiB = 2**20


def task_for(tmp_path: Path, code: str, **fields: Any) -> Task:
    """A task of node n of run r whose store is tmp_path/store, handler `main(x)`."""
    store = tmp_path / "store"
    outputs = fields.pop("output_names", ["y"])
    return Task(
        run=RUN,
        node=NODE,
        handler="main",
        code=textwrap.dedent(code),
        inputs=[TaskInput(param="x", type=ParamType.VALUE, value=1, has_value=True)],
        output_names=outputs,
        outputs={name: layout.output_dir(str(store), RUN, NODE, name) for name in outputs},
        result_path=str(tmp_path / "result.json"),
        bookkeeping=layout.bookkeeping_dir(str(store), RUN, NODE),
        **fields,
    )


def start(tmp_path: Path, task: Task, **streams: Any) -> subprocess.Popen[bytes]:
    """The runner as a process; stdout and stderr to one file unless `streams` say."""
    task_file = tmp_path / "task.json"
    task_file.write_text(json.dumps(task.to_wire()))
    command = [sys.executable, "-m", "headwater.runner", str(task_file)]
    if streams:
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, **streams)
    with (tmp_path / "node.log").open("ab") as log:
        return subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )


def run(tmp_path: Path, task: Task, **streams: Any) -> int:
    return start(tmp_path, task, **streams).wait(120)


def stored_log(tmp_path: Path, attempt: int = 1) -> bytes:
    return Path(layout.attempt_log(str(tmp_path / "store"), RUN, NODE, attempt)).read_bytes()


def stored_record(tmp_path: Path, attempt: int = 1) -> dict[str, Any]:
    path = layout.attempt_record(str(tmp_path / "store"), RUN, NODE, attempt)
    return dict(json.loads(Path(path).read_text()))


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return value


# --- the spool: the last LOG_LIMIT_BYTES, on bounded local disk ---------------------


def spool_bytes(spool: Spool) -> int:
    """What the spool holds, on disk or (its beginning) in memory."""
    segments = [spool.current, *([spool.previous] if spool.previous else [])]
    return sum(
        len(s.getbuffer()) if isinstance(s, io.BytesIO) else os.fstat(s.fileno()).st_size
        for s in segments
    )


def test_the_spool_keeps_everything_below_its_limit(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path), limit=1000)
    spool.append(b"a\n" * 250)
    spool.append(b"b" * 500)
    contents = spool.contents()
    assert contents.data == b"a\n" * 250 + b"b" * 500
    assert (contents.written, contents.dropped) == (1000, 0)
    assert list(tmp_path.iterdir()) == [], "segment files are unlinked at once"


@pytest.mark.parametrize("chunk", [1, 7, 999, 1000, 1001, 35_000])
def test_the_spool_keeps_the_last_lines_within_its_limit_on_bounded_disk(
    tmp_path: Path, chunk: int
) -> None:
    limit = 1000
    spool = Spool(str(tmp_path), limit=limit)
    printed = b"".join(b"line %05d\n" % n for n in range(2_000))  # 20 KB, 20 x limit
    for offset in range(0, len(printed), chunk):
        spool.append(printed[offset : offset + chunk])
        assert spool_bytes(spool) <= 2 * limit
    contents = spool.contents()
    dropped, header_length = header_of(contents.data)
    body = contents.data[header_length:]
    assert contents.data[:header_length] == HEADER.format(dropped=dropped, limit=limit).encode()
    assert dropped == contents.dropped == len(printed) - len(body)
    assert body == printed[dropped:], "the kept part is the end of what was printed"
    assert body.startswith(b"line ") and len(body) <= limit, "it starts at a whole line"
    assert contents.written == len(printed)


def test_one_line_longer_than_the_limit_is_kept_as_its_last_bytes(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path), limit=100)
    spool.append(b"x" * 250 + b"end")
    contents = spool.contents()
    dropped, header_length = header_of(contents.data)
    assert contents.data[header_length:] == (b"x" * 250 + b"end")[-100:]
    assert dropped == 153


# --- the tee: what reaches the original files and the store -------------------------


def test_prints_tracebacks_child_processes_and_runner_lines_all_reach_the_store(
    tmp_path: Path,
) -> None:
    code = """
        import os, subprocess, sys

        def main(x):
            print("from print")
            print("to stderr", file=sys.stderr)
            subprocess.run(["sh", "-c", "echo child out; echo child err >&2"], check=True)
            os.system("sh -c 'echo grandchild'")
            raise ValueError("broken on purpose")
    """
    assert run(tmp_path, task_for(tmp_path, code)) == 1
    stored = stored_log(tmp_path).decode()
    for line in (
        "headwater: calling main",
        "from print",
        "to stderr",
        "child out",
        "child err",
        "grandchild",
        "Traceback (most recent call last)",
        "ValueError: broken on purpose",
        "headwater: exit 1: ValueError: broken on purpose",
    ):
        assert line in stored, line
    assert (tmp_path / "node.log").read_text() == stored, "the original file gets it all"
    record = stored_record(tmp_path)
    assert record["result"]["exitCode"] == 1
    assert "raise ValueError" in record["result"]["traceback"]
    assert record["logBytes"] == len(stored.encode()) and record["logDroppedBytes"] == 0


def test_stdout_and_stderr_to_one_file_keep_their_exact_order(tmp_path: Path) -> None:
    code = """
        import os

        def main(x):
            for n in range(2000):
                os.write(1 + n % 2, b"line %d\\n" % n)
            return x
    """
    assert run(tmp_path, task_for(tmp_path, code)) == 0
    lines = [line for line in stored_log(tmp_path).splitlines() if line.startswith(b"line ")]
    assert lines == [b"line %d" % n for n in range(2000)]


def test_separate_stdout_and_stderr_files_get_their_own_stream_and_the_store_both(
    tmp_path: Path,
) -> None:
    code = """
        import os

        def main(x):
            for n in range(500):
                os.write(1, b"out %d\\n" % n)
                os.write(2, b"err %d\\n" % n)
            return x
    """
    with (tmp_path / "out").open("wb") as out, (tmp_path / "err").open("wb") as err:
        assert run(tmp_path, task_for(tmp_path, code), stdout=out, stderr=err) == 0
    assert (tmp_path / "out").read_bytes() == b"".join(b"out %d\n" % n for n in range(500))
    assert not [x for x in (tmp_path / "err").read_bytes().splitlines() if x.startswith(b"out ")]
    stored = stored_log(tmp_path).splitlines()
    # Two pipes: each stream's order is kept; how they interleave is as they arrived.
    assert [x for x in stored if x.startswith(b"out ")] == [b"out %d" % n for n in range(500)]
    assert [x for x in stored if x.startswith(b"err ")] == [b"err %d" % n for n in range(500)]


def test_a_node_printing_far_more_than_the_bound_stores_only_the_last_part(
    tmp_path: Path,
) -> None:
    # Twice the bound in 100-byte lines, the last one recognisable.
    code = f"""
        import sys

        def main(x):
            line = "y" * 99 + "\\n"
            for _ in range({2 * LOG_LIMIT_BYTES // 100}):
                sys.stdout.write(line)
            print("the last line")
            return x
    """
    assert run(tmp_path, task_for(tmp_path, code)) == 0
    stored = stored_log(tmp_path)
    printed = (tmp_path / "node.log").read_bytes()
    assert len(printed) > 2 * LOG_LIMIT_BYTES
    dropped, header_length = header_of(stored)
    assert header_length and len(stored) - header_length <= LOG_LIMIT_BYTES
    assert stored[header_length:] == printed[dropped:], "the stored body is the log's end"
    assert b"the last line\n" in stored[-200:]
    record = stored_record(tmp_path)
    assert record["logBytes"] == len(printed) and record["logDroppedBytes"] == dropped


def test_a_function_that_closes_its_stdout_still_leaves_a_whole_log(tmp_path: Path) -> None:
    code = """
        import os, sys

        def main(x):
            print("before closing", flush=True)
            sys.stdout.close()
            os.close(1)
            print("stderr still works", file=sys.stderr)
            return x
    """
    assert run(tmp_path, task_for(tmp_path, code)) == 0
    stored = stored_log(tmp_path).decode()
    assert "before closing" in stored and "stderr still works" in stored
    assert "headwater: exit 0: succeeded" in stored
    assert stored_record(tmp_path)["result"]["exitCode"] == 0


def test_a_runner_started_with_stdout_closed_stores_its_log(tmp_path: Path) -> None:
    code = "def main(x):\n    print('nowhere to go')\n    return x\n"
    with (tmp_path / "err").open("wb") as err:
        process = start(tmp_path, task_for(tmp_path, code), stdout=subprocess.DEVNULL, stderr=err)
        assert process.wait(120) == 0
    assert b"nowhere to go" in stored_log(tmp_path)


# --- attempt numbers ----------------------------------------------------------------


def test_attempts_are_numbered_after_the_ones_already_there(tmp_path: Path) -> None:
    code = "import os\n\ndef main(x):\n    print('attempt of pid', os.getpid())\n    return x\n"
    task = task_for(tmp_path, code)
    for _ in range(3):
        assert run(tmp_path, task) == 0
    folder = Path(task.bookkeeping or "")
    assert sorted(p.name for p in folder.iterdir()) == [
        f"attempt-{n}.{kind}" for n in (1, 2, 3) for kind in ("json", "log")
    ]
    assert [stored_record(tmp_path, n)["attempt"] for n in (1, 2, 3)] == [1, 2, 3]
    logs_of = {stored_log(tmp_path, n) for n in (1, 2, 3)}
    assert len(logs_of) == 3, "each attempt has its own log"


def test_the_next_attempt_follows_the_highest_number_whatever_else_is_there() -> None:
    assert next_attempt([]) == 1
    names = ["attempt-7.json", "attempt-2.log", ".attempt-9.log.1a2b.partial", "notes.txt"]
    assert next_attempt(names) == 8


# --- SIGTERM --------------------------------------------------------------------------


SLEEPS = """
    import time

    def main(x):
        print("started sleeping", flush=True)
        time.sleep(300)
        return x
"""


def test_sigterm_stops_the_function_and_leaves_log_record_and_message(tmp_path: Path) -> None:
    process = start(tmp_path, task_for(tmp_path, SLEEPS))
    wait_for(lambda: b"started sleeping" in (tmp_path / "node.log").read_bytes())
    process.send_signal(signal.SIGTERM)
    assert process.wait(60) == EXIT_STOPPED
    stored = stored_log(tmp_path).decode()
    assert "started sleeping" in stored
    assert "headwater: SIGTERM: stopping the function" in stored
    assert "time.sleep(300)" in stored, "the log says where the function was"
    assert stored.endswith("headwater: exit 143: stopped (SIGTERM)\n")
    record = stored_record(tmp_path)
    assert record["result"]["exitCode"] == EXIT_STOPPED
    assert record["result"]["message"] == "stopped (SIGTERM)"
    assert 'File "<node n>", line 6, in main' in record["result"]["traceback"]
    assert record["finishedAt"] is not None
    message = json.loads((tmp_path / "result.json").read_text())
    assert (message["exitCode"], message["message"]) == (EXIT_STOPPED, "stopped (SIGTERM)")


def test_a_function_that_keeps_the_main_thread_still_has_its_stop_recorded(
    tmp_path: Path,
) -> None:
    """It swallows SIGTERM (its own handler) and runs on until SIGKILL, as a node stuck
    in C code would: the store hears of the stop from the tee's thread at once."""
    code = """
        import signal, time

        def main(x):
            signal.signal(signal.SIGTERM, lambda *_: print("ignoring SIGTERM", flush=True))
            print("started sleeping", flush=True)
            while True:
                time.sleep(1)
    """
    process = start(tmp_path, task_for(tmp_path, code))
    wait_for(lambda: b"started sleeping" in (tmp_path / "node.log").read_bytes())
    process.send_signal(signal.SIGTERM)

    def stopped_in_store() -> bool:
        try:
            return stored_record(tmp_path)["result"]["exitCode"] == EXIT_STOPPED
        except (OSError, ValueError, TypeError):
            return False

    wait_for(stopped_in_store)
    process.kill()
    assert process.wait(60) == -signal.SIGKILL
    assert b"started sleeping" in stored_log(tmp_path)
    message = json.loads((tmp_path / "result.json").read_text())
    assert message["message"] == "stopped (SIGTERM)"


# --- the store out of reach -----------------------------------------------------------


def test_an_unwritable_store_never_fails_the_node(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    task = task_for(tmp_path, "def main(x):\n    print('working')\n    return x\n")
    task = task.model_copy(update={"bookkeeping": str(tmp_path / "a-file" / ".headwater")})
    with (tmp_path / "out").open("wb") as out:
        assert run(tmp_path, task, stdout=out, stderr=subprocess.STDOUT) == 0
    printed = (tmp_path / "out").read_text()
    assert "working" in printed
    assert "headwater: warning: cannot write the attempt's log to the store at" in printed
    assert json.loads((tmp_path / "result.json").read_text())["exitCode"] == 0


def test_an_unreachable_object_store_never_fails_the_node(tmp_path: Path) -> None:
    task = task_for(tmp_path, "def main(x):\n    return x\n")
    task = task.model_copy(update={"bookkeeping": "s3://bucket/runs/r/n/.headwater"})
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "AWS_ACCESS_KEY_ID": "k",
        "AWS_SECRET_ACCESS_KEY": "s",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # discard: nothing listens
        "AWS_MAX_ATTEMPTS": "1",
    }
    with (tmp_path / "out").open("wb") as out:
        process = start(tmp_path, task, stdout=out, stderr=subprocess.STDOUT, env=env)
        assert process.wait(120) == 0
    assert "headwater: warning: cannot write the attempt's log" in (tmp_path / "out").read_text()


# --- reading it back -------------------------------------------------------------------


def test_attempts_and_logs_read_back_from_the_store(tmp_path: Path) -> None:
    code = """
        import os

        def main(x):
            print("attempt", os.environ["ATTEMPT"])
            if os.environ["ATTEMPT"] == "1":
                raise RuntimeError("first try fails")
            return x
    """
    task = task_for(tmp_path, code)
    for attempt in ("1", "2"):
        with (tmp_path / "node.log").open("ab") as log:
            env = {**os.environ, "ATTEMPT": attempt}
            run(tmp_path, task, stdout=log, stderr=subprocess.STDOUT, env=env)
    root = str(tmp_path / "store")
    found = logs.attempts(root, RUN, NODE)
    assert [a.number for a in found] == [1, 2]
    assert [a.exit_code for a in found] == [1, 0]
    assert found[0].message == "RuntimeError: first try fails (at <node n>, line 7: raise" + (
        ' RuntimeError("first try fails"))'
    )
    assert all(a.started_at and a.finished_at and a.started_at <= a.finished_at for a in found)
    assert found[1].size == len(stored_log(tmp_path, 2))
    latest = logs.read_log(root, RUN, NODE)
    assert latest.attempt == 2 and latest.data == stored_log(tmp_path, 2)
    assert latest.end == len(latest.data) and latest.dropped == 0
    first = logs.read_log(root, RUN, NODE, attempt=1, offset=10)
    assert first.data == stored_log(tmp_path, 1)[10:]
    assert logs.read_log(root, RUN, NODE, attempt=1, offset=first.end).data == b""


def test_a_node_with_no_attempts_has_none_and_no_log(tmp_path: Path) -> None:
    assert logs.attempts(str(tmp_path), RUN, NODE) == []
    with pytest.raises(logs.LogNotFound):
        logs.read_log(str(tmp_path), RUN, NODE)
    with pytest.raises(logs.LogNotFound):
        logs.read_log(str(tmp_path), RUN, NODE, attempt=3)


def test_an_attempt_killed_before_its_record_is_listed_without_one(tmp_path: Path) -> None:
    folder = Path(layout.bookkeeping_dir(str(tmp_path), RUN, NODE))
    folder.mkdir(parents=True)
    (folder / "attempt-1.log").write_bytes(b"half a log")
    (folder / "attempt-2.json").write_text("{not json")
    found = logs.attempts(str(tmp_path), RUN, NODE)
    assert [(a.number, a.size, a.record, a.exit_code) for a in found] == [
        (1, 10, None, None),
        (2, 0, None, None),
    ]


def test_offsets_count_what_was_printed_even_once_the_start_was_dropped(
    tmp_path: Path,
) -> None:
    folder = Path(layout.bookkeeping_dir(str(tmp_path), RUN, NODE))
    folder.mkdir(parents=True)
    spool = Spool(str(tmp_path), limit=100)
    printed = b"".join(b"line %03d\n" % n for n in range(50))  # 450 bytes
    spool.append(printed[:90])
    (folder / "attempt-1.log").write_bytes(spool.contents().data)
    page = logs.read_log(str(tmp_path), RUN, NODE)
    assert (page.data, page.end, page.dropped) == (printed[:90], 90, 0)
    spool.append(printed[90:])  # the stored log now drops its start
    (folder / "attempt-1.log").write_bytes(spool.contents().data)
    follow = logs.read_log(str(tmp_path), RUN, NODE, offset=page.end)
    header = HEADER.format(dropped=follow.dropped, limit=100).encode()
    assert follow.end == len(printed) and follow.dropped > page.end
    assert follow.data == header + printed[follow.dropped :], "the skip is said, then the rest"
    tail = logs.read_log(str(tmp_path), RUN, NODE, offset=len(printed) - 9)
    assert tail.data == b"line 049\n"
