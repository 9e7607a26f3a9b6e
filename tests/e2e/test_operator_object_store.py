"""The operator on an object store (`--store-url s3://…`, SeaweedFS): the examples —
rionowcast with its data pushed by `headwater dataset push` instead of a ConfigMap —
a failure, resumeFrom and stop; results read back with `headwater outputs`, as a user
would, with credentials from the namespace's Secret only."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from conftest import (
    PLUS_ONE,
    REPO,
    hw_dataflow,
    hw_function,
    hw_run,
    items,
    operator_on_object_store,
    running_pod,
    sleeper,
    wait_for,
    wait_run,
)

from headwater.artifacts import read_artifact

if TYPE_CHECKING:
    from conftest import Cluster, ObjectStore, Operator

pytestmark = pytest.mark.e2e

EXAMPLES = REPO / "examples"
RIONOWCAST_DATA = {
    "radar": "radar.parquet",
    "rain-gauge": "rain_gauge.parquet",
    "grid": "grid.parquet",
    "convlstm-model": "model.npy",
}
"""The Datasets of examples/rionowcast/datasets.yaml and the files of its data/."""


@pytest.fixture(scope="module")
def store_url(
    cluster: Cluster, object_store: ObjectStore, operator_process: Operator
) -> Iterator[str]:
    with operator_on_object_store(cluster, object_store, operator_process) as (_, url):
        yield url


@pytest.fixture
def on_store(cluster: Cluster, object_store: ObjectStore, namespace: str, store_url: str) -> str:
    """The test's namespace, with the store's credentials Secret its Jobs read."""
    object_store.create_secret(cluster, namespace)
    return namespace


def headwater(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI with a kubeconfig and no object-store credentials of its own."""
    env = {k: v for k, v in cluster.env().items() if not k.startswith("AWS_")}
    proc = subprocess.run(
        [sys.executable, "-m", "headwater", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, f"headwater {' '.join(args)}:\n{proc.stdout}{proc.stderr}"
    return proc


def outputs(cluster: Cluster, namespace: str, run: str) -> dict[str, dict[str, Any]]:
    listed = json.loads(headwater(cluster, "outputs", run, "-n", namespace, "-o", "json").stdout)
    return {o["name"]: o for o in listed}


def local_outputs(example: Path, workdir: Path) -> dict[str, str]:
    command = ["run", str(example), "--workdir", str(workdir), "--output", "json"]
    proc = subprocess.run(
        [sys.executable, "-m", "headwater", *command],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return dict(json.loads(proc.stdout)["outputs"])


def test_the_tutorial_result_shows_in_the_status_and_in_outputs(
    cluster: Cluster, on_store: str, store_url: str
) -> None:
    cluster.kubectl("apply", "-n", on_store, "-f", str(EXAMPLES / "tutorial"))
    status = wait_run(cluster, on_store, "tutorial-example", "Succeeded", timeout=180)
    assert (
        status["outputs"]["result"]
        == f"{store_url}/{on_store}/runs/tutorial-example/multiply/result"
    )
    assert status["outputValues"] == {"result": 200}
    (line,) = headwater(cluster, "outputs", "tutorial-example", "-n", on_store).stdout.splitlines()[
        1:
    ]
    assert line.split()[:6] == ["result", "multiply", "json", "3", "bytes", "200"]


def test_rionowcast_runs_on_data_pushed_to_the_store(
    cluster: Cluster, on_store: str, tmp_path: Path
) -> None:
    example = EXAMPLES / "rionowcast"
    for dataset, filename in RIONOWCAST_DATA.items():
        headwater(
            cluster, "dataset", "push", dataset, str(example / "data" / filename), "-n", on_store
        )
    for manifest in ("configmap.yaml", "functions.yaml", "dataflow.yaml", "run.yaml"):
        cluster.kubectl("apply", "-n", on_store, "-f", str(example / manifest))
    wait_run(cluster, on_store, "rionowcast-example", "Succeeded", timeout=300)

    headwater(
        cluster,
        "outputs",
        "rionowcast-example",
        "-n",
        on_store,
        "--download",
        str(tmp_path / "got"),
    )
    expected = local_outputs(example, tmp_path / "local")
    assert sorted(expected) == ["predictions"]
    import pandas as pd

    got = read_artifact(str(tmp_path / "got" / "predict-cor" / "predictions"))
    pd.testing.assert_frame_equal(got, read_artifact(expected["predictions"]))
    listed = outputs(cluster, on_store, "rionowcast-example")
    assert {"df_radar", "df_rain_gauge", "df_grid", "X", "model", "predictions"} <= set(listed)
    assert listed["model"]["meta"]["serializer"] == "npy"


def test_a_failing_node_fails_the_run_and_skips_what_follows(
    cluster: Cluster, on_store: str
) -> None:
    boom = hw_function("boom", "def main(x):\n    raise ValueError('boom')\n", ["x"], ["out"])
    cluster.apply(
        [
            boom,
            hw_function("plus-one", PLUS_ONE, ["x"], ["out"]),
            hw_dataflow(
                "flow",
                [
                    {"name": "first", "function": "boom", "inputs": ["x"], "outputs": ["y"]},
                    {"name": "then", "function": "plus-one", "inputs": {"x": "y"}},
                    {"name": "apart", "function": "plus-one", "inputs": ["x"], "outputs": ["z"]},
                ],
            ),
            hw_run("r", "flow", parameters={"x": {"value": 1}}),
        ],
        on_store,
    )
    status = wait_run(cluster, on_store, "r", "Failed", timeout=180)
    assert "ValueError: boom" in status["nodes"]["first"]["message"]
    assert status["nodes"]["then"]["phase"] == "Skipped"
    assert status["nodes"]["apart"]["phase"] == "Succeeded"
    assert outputs(cluster, on_store, "r")["z"]["value"] == 2


def test_resume_from_reuses_outputs_kept_in_the_store(cluster: Cluster, on_store: str) -> None:
    chain = [
        {"name": "one", "function": "plus-one", "inputs": ["x"], "outputs": ["a"]},
        {"name": "two", "function": "plus-one", "inputs": {"x": "a"}, "outputs": ["b"]},
    ]
    cluster.apply(
        [
            hw_function("plus-one", PLUS_ONE, ["x"], ["out"]),
            hw_dataflow("chain", chain),
            hw_run("first", "chain", parameters={"x": {"value": 1}}),
        ],
        on_store,
    )
    wait_run(cluster, on_store, "first", "Succeeded", timeout=180)
    cluster.apply(
        hw_run("again", "chain", parameters={"x": {"value": 1}}, resumeFrom="first"), on_store
    )

    status = wait_run(cluster, on_store, "again", "Succeeded", timeout=180)

    assert {n: s.get("reusedFrom") for n, s in status["nodes"].items()} == {
        "one": "first",
        "two": "first",
    }
    assert items(cluster, on_store, "jobs", "headwater.dev/run=again") == []
    listed = outputs(cluster, on_store, "again")
    assert (listed["b"]["value"], listed["a"]["value"]) == (3, 2)
    assert "/runs/first/two/b" in listed["b"]["uri"]


def test_stop_cancels_a_run_on_the_object_store(cluster: Cluster, on_store: str) -> None:
    sleeper(cluster, on_store)
    wait_for(lambda: running_pod(cluster, on_store), 60, "the node's pod to run")
    cluster.kubectl(
        "patch", "run", "r", "-n", on_store, "--type=merge", "-p", '{"spec":{"stop":true}}'
    )
    status = wait_run(cluster, on_store, "r", "Cancelled", timeout=60)
    assert status["nodes"]["nap"]["phase"] == "Cancelled"
    wait_for(lambda: not items(cluster, on_store, "pods", "headwater.dev/run=r"), 60, "pods gone")
