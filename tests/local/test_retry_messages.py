"""While a failed node is retried, its message and the Run's say which attempt failed
and why: a retry must not hide a failure for half a minute."""

import json
import subprocess
import sys
import time
from pathlib import Path

from conftest import dataflow, function, headwater_env, run, write_manifests

FLAKY = """
import time
from pathlib import Path

def flaky(marker):
    first = Path(marker)
    if not first.exists():
        first.write_text("seen")
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")
    time.sleep(4)
    return 1
"""


def test_a_node_being_retried_says_which_attempt_failed_and_why(tmp_path: Path) -> None:
    marker = tmp_path / "first-attempt"
    write_manifests(
        tmp_path,
        [
            function("flaky", FLAKY, [{"name": "marker", "type": "value"}], ["out"]),
            dataflow("flow", [{"function": "flaky", "inputs": ["marker"]}]),
            run("flow-1", "flow", retries=2, parameters={"marker": {"value": str(marker)}}),
        ],
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "headwater", "run", str(tmp_path), "--workdir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=headwater_env(),
    )
    status_file = tmp_path / "runs" / "flow-1" / "status.json"
    expected = "attempt 1 of 3 failed: TypeError: unsupported operand type(s) for +"
    seen: dict = {}
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if status_file.exists():
                seen = json.loads(status_file.read_text())
                node = seen.get("nodes", {}).get("flaky", {})
                if node.get("phase") == "Running" and expected in (node.get("message") or ""):
                    break
            time.sleep(0.1)
        node = seen["nodes"]["flaky"]
        assert node["message"].endswith("; retrying"), node
        running = next(c for c in seen["conditions"] if c["type"] == "Succeeded")
        assert f"node flaky: {expected}" in running["message"], running
    finally:
        assert process.wait(60) == 0, "the second attempt succeeds"
    final = json.loads(status_file.read_text())
    assert final["phase"] == "Succeeded" and final["nodes"]["flaky"]["attempts"] == 2
