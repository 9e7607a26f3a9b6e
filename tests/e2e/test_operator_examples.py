"""Every example in examples/ runs on the cluster as `kubectl apply -f examples/NAME/`
and gives the same final outputs as the local executor."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, claim_path

from headwater.artifacts import read_artifact

if TYPE_CHECKING:
    from conftest import Cluster, Operator

pytestmark = pytest.mark.e2e

EXAMPLES = REPO / "examples"
HEADWATER = [sys.executable, "-m", "headwater"]
NAMES = sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir() and any(p.glob("*.yaml")))
"""Folders of manifests (examples/notebooks holds a notebook, run by tests/local)."""


def run_name(example: Path) -> str:
    for path in sorted(example.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc.get("kind") == "Run":
                return str(doc["metadata"]["name"])
    raise AssertionError(f"no Run in {example}")


def local_outputs(example: Path, workdir: Path) -> dict[str, str]:
    proc = subprocess.run(
        [*HEADWATER, "run", str(example), "--workdir", str(workdir), "--output", "json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    status = json.loads(proc.stdout)
    assert status["phase"] == "Succeeded", status
    return dict(status["outputs"])


def assert_same(left: Any, right: Any, what: str) -> None:
    if isinstance(left, pd.DataFrame):
        pd.testing.assert_frame_equal(left, right, obj=what)
    elif isinstance(left, np.ndarray):
        np.testing.assert_array_equal(left, right, err_msg=what)
    else:
        assert left == right, what


@pytest.mark.parametrize("example", NAMES)
def test_example_matches_local_run(
    example: str, cluster: Cluster, namespace: str, operator: Operator, tmp_path: Path
) -> None:
    directory = EXAMPLES / example
    name = run_name(directory)
    cluster.kubectl("apply", "-n", namespace, "-f", f"{directory}/")
    cluster.kubectl(
        "wait",
        "-n",
        namespace,
        "--for=condition=Succeeded",
        "--timeout=240s",
        f"run/{name}",
        timeout=260,
    )
    status = cluster.json("run", name, "-n", namespace)["status"]
    assert status["phase"] == "Succeeded"
    assert status["outputs"], status

    expected = local_outputs(directory, tmp_path / "local")
    assert set(status["outputs"]) == set(expected)
    for output, uri in status["outputs"].items():
        got = read_artifact(claim_path(cluster, namespace, uri))
        assert_same(got, read_artifact(expected[output]), f"{example} output {output}")
