"""The Run verbs of the command line against the local control plane: submit, list,
get, logs, wait, watch, stop, retry, delete and cache, with exit codes and `-o json`,
also as the kubectl plugin (`kubectl headwater …`)."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import hw_dataflow, hw_function, wait_for

pytestmark = pytest.mark.timeout(900)

HALVE = """import time

def main(x, delay=0):
    time.sleep(delay)
    print('half of', x)
    return x / 2
"""


def cli(cluster: Any, *args: str, kubectl_plugin: bool = False) -> subprocess.CompletedProcess[str]:
    command = ["kubectl", "headwater"] if kubectl_plugin else [sys.executable, "-m", "headwater"]
    env = {**cluster.env(), "COLUMNS": "200"}
    return subprocess.run([*command, *args], capture_output=True, text=True, env=env, timeout=300)


def test_run_verbs_in_a_namespace(
    cluster: Any, operator: Any, namespace: str, tmp_path: Path
) -> None:
    function = hw_function("halve", HALVE, ["x", "delay"], ["half"])
    function["spec"]["params"][1]["default"] = 0
    flow = hw_dataflow("halves", [{"function": "halve", "inputs": ["x", "delay"]}])
    manifests = tmp_path / "flow.yaml"
    manifests.write_text("\n---\n".join(json.dumps(d) for d in (function, flow)))
    ns = ["-n", namespace]

    submitted = cli(cluster, "submit", str(manifests), *ns, "-p", "x=9", "--name", "one", "--wait")
    assert submitted.returncode == 0, submitted.stderr
    assert submitted.stdout == "run/one submitted\n"
    assert "Function/halve serverside-applied" in submitted.stderr

    (item,) = json.loads(cli(cluster, "list", *ns, "-o", "json").stdout)["items"]
    assert item["status"]["phase"] == "Succeeded"
    assert cli(cluster, "list", *ns).stdout.splitlines()[1].split()[:4] == [
        "one",
        "halves",
        "Succeeded",
        "1/1",
    ]
    got = json.loads(cli(cluster, "get", "one", *ns, "-o", "json").stdout)
    assert got["status"]["nodes"]["halve"]["phase"] == "Succeeded"
    assert "Phase:    Succeeded" in cli(cluster, "get", "one", *ns).stdout
    assert "half of 9\n" in cli(cluster, "logs", "one", "halve", *ns).stdout
    plugin = cli(cluster, "logs", "one", *ns, kubectl_plugin=True)
    assert plugin.returncode == 0, plugin.stderr
    assert "[halve] half of 9\n" in plugin.stdout
    assert cli(cluster, "wait", "one", *ns).returncode == 0
    assert cli(cluster, "watch", "one", *ns).returncode == 0

    failing = cli(cluster, "submit", str(manifests), *ns, "-p", 'x="nine"', "--name", "bad")
    assert failing.returncode == 0
    waited = cli(cluster, "wait", "bad", *ns, "--timeout", "300")
    assert waited.returncode == 1 and "TypeError" in waited.stderr
    retried = cli(cluster, "retry", "bad", *ns, "-p", "x=4", "--wait")
    assert retried.returncode == 0, retried.stderr
    new = retried.stdout.strip()
    assert (
        json.loads(cli(cluster, "get", new, *ns, "-o", "json").stdout)["spec"]["resumeFrom"]
        == "bad"
    )

    slow = cli(
        cluster, "submit", str(manifests), *ns, "-p", "x=1", "-p", "delay=300", "--name", "slow"
    )
    assert slow.returncode == 0
    wait_for(
        lambda: "Running" in cli(cluster, "get", "slow", *ns).stdout, 120, "node halve running"
    )
    assert cli(cluster, "stop", "slow", *ns).stdout == "run/slow stopping\n"
    stopped = cli(cluster, "wait", "slow", *ns, "--timeout", "120")
    assert stopped.returncode == 1 and "cancelled" in stopped.stderr

    assert cli(cluster, "delete", "slow", *ns).stdout == "run/slow deleted\n"
    gone = cli(cluster, "get", "slow", *ns)
    assert gone.returncode == 1 and "no Run slow" in gone.stderr


def test_cache_list_and_clear_in_a_namespace(cluster: Any, operator: Any, namespace: str) -> None:
    cluster.apply(
        [
            hw_function("plus", "def main(x):\n    return x + 1\n", ["x"], ["y"]),
            hw_dataflow("plus", [{"function": "plus", "inputs": ["x"]}]),
        ],
        namespace,
    )
    ns = ["-n", namespace]
    run = {
        "apiVersion": "headwater.dev/v1alpha1",
        "kind": "Run",
        "metadata": {"name": "cached"},
        "spec": {"dataflow": "plus", "parameters": {"x": {"value": 1}}, "cache": {"enabled": True}},
    }
    cluster.apply(run, namespace)
    assert cli(cluster, "wait", "cached", *ns).returncode == 0
    listed = wait_for(
        lambda: json.loads(cli(cluster, "cache", "list", *ns, "-o", "json").stdout), 60, "entries"
    )
    assert [(e["run"], e["node"], e["function"]) for e in listed] == [("cached", "plus", "plus")]
    cleared = cli(cluster, "cache", "clear", *ns, "--run", "cached")
    assert cleared.stdout == "dropped 1 cached results\n"
    assert json.loads(cli(cluster, "cache", "list", *ns, "-o", "json").stdout) == []
