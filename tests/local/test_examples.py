"""The examples, as a user runs them: `headwater validate` and `headwater run` on each
folder, with their results read from the artifacts the Run's status points at — the
files anyone can read without headwater."""

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import Completed, dataflow, function, headwater, run, write_manifests

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NAMES = ["tutorial", "text-processor", "credit-scoring", "rionowcast"]
VALUE = {"type": "value"}


@pytest.fixture(scope="module", params=NAMES)
def example_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """(example name, finished `headwater run --output json`), one run per example."""
    work = tmp_path_factory.mktemp(request.param)
    done = headwater(
        "run", str(EXAMPLES / request.param), "--output", "json", "--workdir", "state", cwd=work
    )
    return request.param, done


def output_file(status: dict[str, Any], name: str, data_file: str) -> Path:
    """The data file of the Run's final output `name`, checked against its meta.json."""
    uri = Path(status["outputs"][name])
    meta = json.loads((uri / "meta.json").read_text())
    assert meta["file"] == data_file
    return uri / data_file


def test_example_runs_and_succeeds(example_run: tuple[str, Completed]) -> None:
    name, done = example_run
    assert done.code == 0, done.stderr
    status = done.status()
    assert status["phase"] == "Succeeded"
    assert all(node["phase"] == "Succeeded" for node in status["nodes"].values())
    succeeded = next(c for c in status["conditions"] if c["type"] == "Succeeded")
    assert succeeded["status"] == "True"
    check = RESULT_CHECKS[name]
    check(status)


def check_tutorial(status: dict[str, Any]) -> None:
    assert json.loads(output_file(status, "result", "data.json").read_text()) == 200


def check_text_processor(status: dict[str, Any]) -> None:
    joined = json.loads(output_file(status, "joined_text", "data.json").read_text())
    assert joined == "Insula is great!"


def check_credit_scoring(status: dict[str, Any]) -> None:
    metrics = json.loads(output_file(status, "metrics", "data.json").read_text())
    assert set(metrics) == {"auc", "accuracy", "test_rows", "default_rate"}
    assert 0 <= metrics["auc"] <= 1
    assert 0 <= metrics["accuracy"] <= 1
    assert metrics["test_rows"] == 100, "a quarter of the 400 applications"
    # Far better than chance on this synthetic data; loose enough for other sklearns.
    assert metrics["auc"] > 0.65


def check_rionowcast(status: dict[str, Any]) -> None:
    predictions = pd.read_parquet(output_file(status, "predictions", "data.parquet"))
    grid = pd.read_parquet(EXAMPLES / "rionowcast" / "data" / "grid.parquet")
    assert len(predictions) == len(grid) == 256
    assert sorted(predictions["point_id"]) == sorted(grid["point_id"])
    assert list(predictions.columns) == [
        "point_id",
        "lat",
        "lon",
        "valid_time",
        "rain_mm_h",
        "category",
    ]
    assert (predictions["valid_time"] == pd.Timestamp("2024-03-21 20:00")).all()
    assert (predictions["rain_mm_h"] >= 0).all()
    assert set(predictions["category"]) <= {"none", "light", "moderate", "heavy"}
    wettest = predictions.loc[predictions["rain_mm_h"].idxmax()]
    assert wettest["point_id"] == "p0709"
    assert wettest["rain_mm_h"] == pytest.approx(7.99, abs=0.05)


RESULT_CHECKS = {
    "tutorial": check_tutorial,
    "text-processor": check_text_processor,
    "credit-scoring": check_credit_scoring,
    "rionowcast": check_rionowcast,
}


@pytest.mark.parametrize("name", NAMES)
def test_example_is_valid(name: str, tmp_path: Path) -> None:
    done = headwater("validate", str(EXAMPLES / name), cwd=tmp_path)
    assert done.code == 0, done.stderr
    assert "valid" in done.stderr


# --- a broken copy of an example ------------------------------------------------------

BROKEN_FILE = "broken.yaml"
EXPECTED_ERRORS = [
    # (what is wrong, resource, field path, words of the message)
    ("duplicate node name", "Dataflow/broken", "spec.nodes[1].name", "'m1' is already"),
    ("name produced twice", "Dataflow/broken", "spec.nodes[2].outputs[0]", "'result' is produced"),
    ("unknown function", "Dataflow/broken", "spec.nodes[3].function", "'no-such-function'"),
    ("list input not a parameter", "Dataflow/broken", "spec.nodes[4].inputs[1]", "parameter 'c'"),
    ("outputs count mismatch", "Dataflow/broken", "spec.nodes[5].outputs", "names 1 outputs"),
    ("cycle", "Dataflow/broken", "spec.nodes[6]", "cycle: loop-a -> loop-b -> loop-a"),
    ("code does not parse", "Function/unparsable", "spec.code.inline", "was never closed"),
    ("wrong signature", "Function/wrong-signature", "spec.code.inline", "no parameter 'b'"),
    ("unbound input", "Run/broken-run", "spec.parameters.unbound_free", "'unbound_free'"),
]


def broken_example(folder: Path) -> None:
    """The tutorial folder plus a file with one of each graph and code error."""
    shutil.copytree(EXAMPLES / "tutorial", folder)
    nodes = [
        {"name": "m1", "function": "multiply", "inputs": ["a", "b"], "outputs": ["result"]},
        {"name": "m1", "function": "multiply", "inputs": ["a", "b"], "outputs": ["other"]},
        {"name": "again", "function": "multiply", "inputs": ["a", "b"], "outputs": ["result"]},
        {"name": "ghost", "function": "no-such-function", "inputs": ["a"]},
        {"name": "listy", "function": "multiply", "inputs": ["a", "c"], "outputs": ["l"]},
        {"name": "counts", "function": "pair", "inputs": ["p"], "outputs": ["only_one"]},
        {
            "name": "loop-a",
            "function": "multiply",
            "inputs": {"a": "lb", "b": "b"},
            "outputs": ["la"],
        },
        {
            "name": "loop-b",
            "function": "multiply",
            "inputs": {"a": "la", "b": "b"},
            "outputs": ["lb"],
        },
        {"name": "parse", "function": "unparsable", "inputs": ["x"], "outputs": ["y"]},
        {"name": "sig", "function": "wrong-signature", "inputs": ["a", "b"], "outputs": ["z"]},
        {"name": "needs", "function": "multiply", "inputs": {"a": "unbound_free", "b": "b"}},
    ]
    unparsable = function(
        "unparsable", "def unparsable(x:\n    return x\n", [{"name": "x", **VALUE}], ["y"]
    )
    wrong_signature = function(
        "wrong-signature",
        "def wrong_signature(a):\n    return a\n",
        [{"name": "a", **VALUE}, {"name": "b", **VALUE}],
        ["z"],
    )
    pair = function("pair", "def pair(p):\n    return p, p\n", [{"name": "p", **VALUE}], ["u", "v"])
    bindings = {name: {"value": 1} for name in ("a", "b", "p", "x")}
    write_manifests(
        folder,
        [
            unparsable,
            wrong_signature,
            pair,
            dataflow("broken", nodes),
            run("broken-run", "broken", parameters=bindings),
        ],
        name=BROKEN_FILE,
    )


def error_lines(stderr: str) -> list[str]:
    """One string per reported error; the console may wrap a long one over lines."""
    chunks = re.split(r"^error ", stderr, flags=re.MULTILINE)[1:]
    return [" ".join(chunk.split()) for chunk in chunks]


def matching(lines: list[str], resource: str, path: str, words: str) -> list[str]:
    return [line for line in lines if f"{resource} at {path}:" in line and words in line]


@pytest.fixture
def broken_validation(tmp_path: Path) -> list[str]:
    broken_example(tmp_path / "broken")
    done = headwater("validate", "broken", cwd=tmp_path)
    assert done.code == 2, done.stderr
    return error_lines(done.stderr)


def test_validate_reports_every_error_of_a_broken_example_at_once(
    broken_validation: list[str],
) -> None:
    for what, resource, path, words in EXPECTED_ERRORS:
        resource_kind = resource.split("/")[0]
        found = [
            line
            for line in broken_validation
            if re.search(rf"\b{resource_kind}(/\S+)? at {re.escape(path)}:", line) and words in line
        ]
        assert found, f"{what}: no error at {path} in:\n" + "\n".join(broken_validation)


def test_validate_names_the_file_and_resource_of_every_error(
    broken_validation: list[str],
) -> None:
    for what, resource, path, words in EXPECTED_ERRORS:
        found = matching(broken_validation, resource, path, words)
        assert found, f"{what}: no line naming {resource} at {path}"
        assert all(f"{BROKEN_FILE} (document " in line for line in found), (what, found)
