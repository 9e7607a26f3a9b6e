"""The TwinsCIE notebook's sequence through the Python API, written once and run against
the local executor and the local control plane with nothing changed but the client:
push three parquet files and a 5 MB model, register four functions from one .py file,
build the dataflow, submit with per-input bindings, wait, load the predictions as a
DataFrame, read a node's log, stop a second run, retry a failed one and see only the
failed part run again. Also: what `wait` and `get` say when no operator serves the
namespace."""

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import hw_dataflow, hw_function

import headwater
from headwater.api import NodePhase, RunPhase

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "examples" / "notebooks"
DATA = REPO / "examples" / "rionowcast" / "data"
MODEL_MEMBERS = 163_840
"""Rows of 4 float64 weights: 5,242,880 bytes, the 5 MB model of the TwinsCIE notebook."""

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(params=["local", "cluster"])
def client(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[headwater.Client]:
    if request.param == "local":
        yield headwater.Client.local(tmp_path / ".headwater")
        return
    cluster = request.getfixturevalue("cluster")
    request.getfixturevalue("operator")
    namespace = request.getfixturevalue("namespace")
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    monkeypatch.setenv("HEADWATER_OPERATOR_NAMESPACE", "default")
    yield headwater.Client.cluster(namespace)


def make_model(path: Path) -> Path:
    weights = [0.2, 0.3, 0.5, 0.0]
    np.save(path, np.random.default_rng(7).normal(weights, 0.01, size=(MODEL_MEMBERS, 4)))
    return path


def until_running(run: headwater.RunHandle, node: str) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        state = run.status().nodes.get(node)
        if state is not None and state.phase == NodePhase.RUNNING:
            return
        time.sleep(0.5)
    raise AssertionError(f"{node} of {run.name} never ran: {run.status()}")


def test_twinscie_sequence(client: headwater.Client, tmp_path: Path) -> None:
    model = make_model(tmp_path / "convlstm.npy")
    assert model.stat().st_size > 5_000_000
    for name, file in [
        ("radar", DATA / "radar.parquet"),
        ("rain-gauge", DATA / "rain_gauge.parquet"),
        ("grid", DATA / "grid.parquet"),
        ("convlstm-model", model),
    ]:
        assert name in client.push_dataset(name, file)

    fns = headwater.functions_from_file(NOTEBOOKS / "preprocessing.py")
    assert [f.spec.handler for f in fns] == ["load", "preprocessing", "load_model", "predict"]
    flow = headwater.Dataflow(
        "rionowcast",
        nodes=[
            headwater.Node(
                fns["load"], inputs=["radar_data_path", "rain_gauge_data_path", "grid_data_path"]
            ),
            headwater.Node(fns["preprocessing"], inputs=["df_radar", "df_rain_gauge", "df_grid"]),
            headwater.Node(fns["load_model"], inputs=["model_path"], outputs=["model"]),
            headwater.Node(
                fns["predict"],
                inputs=["X", "model", "units", "warmup_seconds"],
                outputs=["predictions"],
            ),
        ],
    )
    applied = client.apply(*fns, flow)
    assert applied[0].startswith("ConfigMap/preprocessing.py")  # the file travels once
    assert len(applied) == 6
    inputs = {
        "radar_data_path": headwater.dataset("radar"),
        "rain_gauge_data_path": headwater.dataset("rain-gauge"),
        "grid_data_path": headwater.dataset("grid"),
        "model_path": headwater.dataset("convlstm-model"),
    }

    run = client.submit(flow, inputs, retries=1, timeout_seconds=600)
    status = run.wait(timeout=600, progress=False)
    assert status.phase == RunPhase.SUCCEEDED and status.progress == "4/4"
    predictions = run.output("predictions")
    assert isinstance(predictions, pd.DataFrame)
    assert list(predictions.columns) == ["point_id", "lat", "lon", "rain"]
    assert len(predictions) == 256 and predictions["rain"].max() > 0
    assert "predicted 256 points" in run.logs("predict")
    everything = run.logs()
    assert "[load] loaded 3072 radar cells, 120 gauge readings\n" in everything
    assert "[load-model] model: 163840 members of 4 weights\n" in everything
    downloaded = run.download("predictions", tmp_path / "out")
    assert downloaded == tmp_path / "out" / "predict" / "predictions" / "data.parquet"
    assert pd.read_parquet(downloaded).equals(predictions)

    slow = client.submit("rionowcast", {**inputs, "warmup_seconds": 300})
    until_running(slow, "predict")
    slow.stop()
    with pytest.raises(headwater.RunCancelled) as cancelled:
        slow.wait(timeout=180, progress=False)
    assert cancelled.value.status.nodes["predict"].phase == NodePhase.CANCELLED
    assert cancelled.value.status.nodes["load"].phase == NodePhase.SUCCEEDED

    bad = client.submit("rionowcast", {**inputs, "units": "mm"})
    with pytest.raises(headwater.RunFailed) as failed:
        bad.wait(timeout=600, progress=False)
    assert list(failed.value.failed) == ["predict"]
    assert "ValueError: unknown units 'mm'" in failed.value.failed["predict"]
    assert "preprocessing.py, line" in failed.value.failed["predict"]

    again = bad.retry(parameters={"units": "in/h"})
    assert again.get().spec.resume_from == bad.name
    done = again.wait(timeout=600, progress=False)
    reused = {n for n, s in done.nodes.items() if s.reused_from == bad.name}
    assert reused == {"load", "preprocessing", "load-model"}
    assert done.nodes["predict"].reused_from is None
    assert done.nodes["predict"].started_at is not None
    inches = again.output("predictions")["rain"].to_numpy()
    assert np.allclose(inches, predictions["rain"].to_numpy() / 25.4, atol=1e-3)
    # A reused node's log is the one of the run that computed it.
    assert "loaded 3072 radar cells" in again.logs("load")

    listed = {h.name: h.last.status.phase for h in client.list_runs() if h.last and h.last.status}
    assert listed == {
        run.name: RunPhase.SUCCEEDED,
        slow.name: RunPhase.CANCELLED,
        bad.name: RunPhase.FAILED,
        again.name: RunPhase.SUCCEEDED,
    }


def test_logs_come_from_the_store_once_pods_are_gone(
    cluster, operator, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    monkeypatch.setenv("HEADWATER_OPERATOR_NAMESPACE", "default")
    code = "def main(x):\n    print('half of', x)\n    return x / 2\n"
    cluster.apply(
        [
            hw_function("halve", code, ["x"], ["half"]),
            hw_dataflow("halves", [{"function": "halve", "inputs": ["x"]}]),
        ],
        namespace,
    )
    client = headwater.Client.cluster(namespace)
    run = client.submit("halves", {"x": 9})
    run.wait(timeout=300, progress=False)
    from_pod = run.logs("halve")
    assert "half of 9\n" in from_pod
    cluster.kubectl("delete", "jobs", "-n", namespace, "-l", f"headwater.dev/run={run.name}")
    cluster.kubectl(
        "wait",
        "--for=delete",
        "pods",
        "-n",
        namespace,
        "-l",
        f"headwater.dev/run={run.name}",
        "--timeout=60s",
    )
    assert run.logs("halve") == from_pod
    assert run.logs() == "".join(f"[halve] {line}\n" for line in from_pod.splitlines())


def test_no_operator_is_said_instead_of_waiting(
    cluster, operator, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    monkeypatch.setenv("HEADWATER_OPERATOR_NAMESPACE", "default")
    cluster.apply(
        [
            hw_function("plus", "def main(x):\n    return x + 1\n", ["x"], ["y"]),
            hw_dataflow("plus", [{"function": "plus", "inputs": ["x"]}]),
        ],
        namespace,
    )
    operator.stop()
    try:
        run = headwater.Client.cluster(namespace).submit("plus", {"x": 1}, name="unserved")
        with pytest.raises(headwater.NoOperator) as unserved:
            run.wait(timeout=60, progress=False, no_operator_after=2)
        assert f"no headwater operator serves namespace {namespace}" in str(unserved.value)
        assert f"watchNamespaces include {namespace}" in str(unserved.value)
        env = {**cluster.env(), "COLUMNS": "200"}
        command = [sys.executable, "-m", "headwater"]
        waited = subprocess.run(
            [*command, "wait", "unserved", "-n", namespace, "--no-operator-after", "2"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert waited.returncode == 1, waited.stderr
        assert "no headwater operator serves" in waited.stderr
        got = subprocess.run(
            [*command, "get", "unserved", "-n", namespace, "--no-operator-after", "1"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert got.returncode == 0 and "Phase:    (no status)" in got.stdout
        assert "warning" in got.stderr and "no headwater operator serves" in got.stderr
    finally:
        operator.start()
    # Served again: the same Run runs to the end.
    assert run.wait(timeout=300, progress=False).phase == RunPhase.SUCCEEDED
