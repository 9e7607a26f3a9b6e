"""What people see: Events on the Run, kubectl columns, categories, short names and
explain, and the operator's Prometheus metrics."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
import yaml
from conftest import CRD_DIR, hw_dataflow, hw_function, hw_run, wait_for, wait_run

if TYPE_CHECKING:
    from conftest import Cluster, Operator

pytestmark = pytest.mark.e2e

PLUS_ONE = "def main(x):\n    return x + 1\n"


def small_run(cluster: Cluster, namespace: str) -> None:
    cluster.apply(
        [
            hw_function("plus-one", PLUS_ONE, ["x"], ["out"]),
            hw_dataflow(
                "flow",
                [
                    {"name": "a", "function": "plus-one", "inputs": {"x": "x"}, "outputs": ["ax"]},
                    {"name": "b", "function": "plus-one", "inputs": {"x": "ax"}, "outputs": ["bx"]},
                ],
            ),
            hw_run("r", "flow", parameters={"x": {"value": 1}}),
        ],
        namespace,
    )
    wait_run(cluster, namespace, "r", "Succeeded")


def test_events_on_the_run(cluster: Cluster, namespace: str, operator: Operator) -> None:
    small_run(cluster, namespace)

    def reasons() -> set[str] | None:
        out = cluster.kubectl(
            "get", "events", "-n", namespace, "--field-selector", "involvedObject.name=r",
            "-o", "jsonpath={.items[*].reason}",
        ).stdout  # fmt: skip
        found = set(out.split())
        return found if {"NodeStarted", "NodeSucceeded", "RunSucceeded"} <= found else None

    wait_for(reasons, 30, "NodeStarted, NodeSucceeded and RunSucceeded events")
    described = cluster.kubectl("describe", "run", "r", "-n", namespace).stdout
    assert "RunSucceeded" in described


def test_kubectl_experience(cluster: Cluster, namespace: str, operator: Operator) -> None:
    small_run(cluster, namespace)

    table = cluster.kubectl("get", "runs", "-n", namespace).stdout.splitlines()
    header = table[0].split()
    for column in ("PHASE", "PROGRESS", "DURATION"):
        assert column in header, table[0]
    row = dict(zip(header, table[1].split(), strict=False))
    assert row["NAME"] == "r" and row["PHASE"] == "Succeeded" and row["PROGRESS"] == "2/2", table

    everything = cluster.kubectl("get", "headwater", "-n", namespace, "-o", "name").stdout
    for kind in ("function", "dataflow", "run"):
        assert f"{kind}.headwater.dev/" in everything, everything
    cluster.apply(
        {
            "apiVersion": "headwater.dev/v1alpha1",
            "kind": "Dataset",
            "metadata": {"name": "numbers"},
            "spec": {"source": {"inline": [1, 2, 3]}},
        },
        namespace,
    )
    everything = cluster.kubectl("get", "headwater", "-n", namespace, "-o", "name").stdout
    assert "dataset.headwater.dev/numbers" in everything, everything

    for short, name in (
        ("hwrun", "r"),
        ("hwdf", "flow"),
        ("hwfn", "plus-one"),
        ("hwds", "numbers"),
    ):
        out = cluster.kubectl("get", short, "-n", namespace, "-o", "name").stdout
        assert f"/{name}" in out, (short, out)

    crd = yaml.safe_load((CRD_DIR / "runs.headwater.dev.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    description = schema["properties"]["spec"]["properties"]["parameters"]["description"]
    explained = cluster.kubectl("explain", "run.spec.parameters").stdout
    assert "DESCRIPTION" in explained
    first_words = " ".join(description.split()[:6])
    assert first_words in " ".join(explained.split()), explained


def metric(text: str, name: str) -> float | None:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


def test_metrics(cluster: Cluster, namespace: str, operator: Operator) -> None:
    small_run(cluster, namespace)

    def served() -> str | None:
        text = operator.metrics()
        count = metric(text, "headwater_run_duration_seconds_count")
        return text if count and count > 0 else None

    text = wait_for(served, 30, "a finished run in the metrics")
    created = metric(text, "headwater_jobs_created_total")
    assert created is not None and created > 0, created
    assert metric(text, "headwater_reconcile_duration_seconds_count")
    assert "headwater_reconcile_duration_seconds_bucket" in text
    assert "headwater_run_duration_seconds_bucket" in text
