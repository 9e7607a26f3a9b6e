"""The notebook under examples/notebooks runs top to bottom in a real Jupyter kernel
(nbclient), so it cannot rot: each cell's output is what the notebook says it shows."""

import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

pytestmark = pytest.mark.timeout(600)


def text_of(cell: nbformat.NotebookNode) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        data = output.get("data", {})
        parts.append(data.get("text/plain", "") + data.get("text/html", ""))
    return "".join(parts)


def test_the_rionowcast_notebook_runs_in_a_kernel(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES / "notebooks", tmp_path / "notebooks")
    shutil.copytree(EXAMPLES / "rionowcast" / "data", tmp_path / "rionowcast" / "data")
    notebook = nbformat.read(tmp_path / "notebooks" / "rionowcast.ipynb", as_version=4)
    NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path / "notebooks")}},
    ).execute()
    cells = {
        cell.source.splitlines()[0]: cell for cell in notebook.cells if cell.cell_type == "code"
    }

    def output(first_line: str) -> str:
        return text_of(cells[first_line])

    assert output("rng = np.random.default_rng(7)").count("dataset ") == 4
    assert "load(radar_data_path: path" in output(
        'fns = headwater.functions_from_file("preprocessing.py")'
    )
    waited = output("inputs = {")
    # The live view is one display, redrawn in place: at the end it is the node table.
    assert "Succeeded" in waited and "predict" in waited and "<pre" in waited
    assert "point_id" in output('predictions = run.output("predictions")')
    assert "predicted 256 points" in output('print(run.logs("predict"))')
    assert "cancelled" in output("import time")
    assert "unknown units 'mm'" in output(
        'bad = client.submit("rionowcast", {**inputs, "units": "mm"})'
    )
    retried = output('again = bad.retry(parameters={"units": "in/h"})')
    assert "'predict': 'ran'" in retried and retried.count("rionowcast-") == 3
    assert "kind: ConfigMap" in output("print(headwater.to_yaml(*fns, flow)[:600])")
