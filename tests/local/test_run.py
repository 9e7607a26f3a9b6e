"""`headwater run` end to end: real runner subprocesses, real files."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import dataflow, function, headwater, run, write_manifests

VALUE = {"type": "value"}


def branching_flow(folder: Path) -> None:
    """a → b → c fails at b; d is an independent branch."""
    write_manifests(
        folder,
        [
            function(
                "make", "def make(seed):\n    return seed + 1\n", [{"name": "seed", **VALUE}], ["x"]
            ),
            function(
                "explode",
                "def explode(x):\n    raise ValueError(f'bad radar frame {x}')\n",
                [{"name": "x", **VALUE}],
                ["y"],
            ),
            function("finish", "def finish(y):\n    return y\n", [{"name": "y", **VALUE}], ["z"]),
            function(
                "other",
                "def other(seed):\n    return seed * 10\n",
                [{"name": "seed", **VALUE}],
                ["w"],
            ),
            dataflow(
                "branching",
                [
                    {"name": "a", "function": "make", "inputs": ["seed"]},
                    {"name": "b", "function": "explode", "inputs": ["x"]},
                    {"name": "c", "function": "finish", "inputs": ["y"]},
                    {"name": "d", "function": "other", "inputs": ["seed"]},
                ],
            ),
            run("branching-1", "branching", parameters={"seed": {"value": 4}}, retries=1),
        ],
    )


def test_a_failing_function_skips_its_descendants_only(project: Path) -> None:
    branching_flow(project / "flow")
    done = headwater("run", "flow", "--output", "json", cwd=project)
    assert done.code == 1, done.stderr
    status = done.status()
    nodes = status["nodes"]
    assert status["phase"] == "Failed"
    assert status["duration"].endswith("s")
    assert {name: node["phase"] for name, node in nodes.items()} == {
        "a": "Succeeded",
        "b": "Failed",
        "c": "Skipped",
        "d": "Succeeded",
    }
    assert "ValueError: bad radar frame 5" in nodes["b"]["message"]
    assert nodes["b"]["exitCode"] == 1
    assert nodes["b"]["attempts"] == 2, "retries: 1 gives the node a second attempt"
    succeeded = next(c for c in status["conditions"] if c["type"] == "Succeeded")
    assert succeeded["status"] == "False"
    assert "b" in succeeded["message"]
    d_output = Path(nodes["d"]["outputs"]["w"])
    assert json.loads((d_output / "data.json").read_text()) == 40
    log = (project / ".headwater/runs/branching-1/b/node.log").read_text()
    assert "Traceback" in log


def test_status_file_matches_the_printed_status(project: Path) -> None:
    branching_flow(project / "flow")
    done = headwater("run", "flow", "--workdir", "state", "--output", "json", cwd=project)
    on_disk = json.loads((project / "state/runs/branching-1/status.json").read_text())
    assert on_disk == done.status()


def test_resume_from_reuses_succeeded_nodes(project: Path) -> None:
    branching_flow(project / "flow")
    headwater("run", "flow", cwd=project)
    fixed = function(
        "explode", "def explode(x):\n    return x * 2\n", [{"name": "x", **VALUE}], ["y"]
    )
    write_manifests(project / "flow", [fixed], name="flow-fix.yaml")
    original = (project / "flow/flow.yaml").read_text()
    kept = [d for d in original.split("---") if "handler: explode" not in d]
    (project / "flow/flow.yaml").write_text("---".join(kept))
    write_manifests(
        project / "flow",
        [
            run(
                "branching-2",
                "branching",
                parameters={"seed": {"value": 4}},
                resumeFrom="branching-1",
            )
        ],
        name="run-2.yaml",
    )
    done = headwater("run", "flow", "--run", "branching-2", "--output", "json", cwd=project)
    assert done.code == 0, done.stderr
    nodes = done.status()["nodes"]
    assert nodes["a"]["reusedFrom"] == "branching-1"
    assert nodes["d"]["reusedFrom"] == "branching-1"
    assert "reusedFrom" not in nodes["b"]
    z = Path(nodes["c"]["outputs"]["z"])
    assert json.loads((z / "data.json").read_text()) == 10


def test_ctrl_c_stops_nodes_and_leaves_a_cancelled_status(project: Path) -> None:
    write_manifests(
        project / "flow",
        [
            function(
                "wait",
                "import time\ndef wait():\n    time.sleep(120)\n    return 1\n",
                [],
                ["done"],
            ),
            dataflow("waiting", [{"function": "wait"}]),
            run("waiting-1", "waiting"),
        ],
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "headwater", "run", "flow"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    status_file = project / ".headwater/runs/waiting-1/status.json"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if status_file.exists() and '"Running"' in status_file.read_text():
            break
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 1
    status = json.loads(status_file.read_text())
    assert status["phase"] == "Cancelled"
    assert status["nodes"]["wait"]["phase"] == "Cancelled"
