"""Bad manifests: rejected by kubectl apply with a clear message, or a False condition
that names the problem; and the operator keeps serving the namespace's other Runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from conftest import (
    HEADWATER_API,
    hw_dataflow,
    hw_function,
    hw_run,
    run_status,
    wait_for,
    wait_run,
)

if TYPE_CHECKING:
    from conftest import Cluster, Operator

pytestmark = pytest.mark.e2e

PLUS_ONE = "def main(x):\n    return x + 1\n"


def rejected(cluster: Cluster, namespace: str, manifest: dict[str, Any]) -> str:
    """kubectl apply fails; returns what it said."""
    import yaml

    proc = cluster.kubectl(
        "apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(manifest), check=False
    )
    assert proc.returncode != 0, f"accepted:\n{proc.stdout}"
    return proc.stderr


def condition(cluster: Cluster, namespace: str, kind: str, name: str, type_: str) -> dict | None:
    status = cluster.json(kind, name, "-n", namespace).get("status") or {}
    return next((c for c in status.get("conditions", []) if c["type"] == type_), None)


def wait_false(cluster: Cluster, namespace: str, kind: str, name: str) -> dict[str, Any]:
    def false() -> dict | None:
        found = condition(cluster, namespace, kind, name, "Ready")
        return found if found and found["status"] == "False" else None

    return wait_for(false, 60, f"{kind} {name} Ready=False")


def good_run(cluster: Cluster, namespace: str) -> None:
    """A well-formed run in the same namespace still succeeds."""
    cluster.apply(
        [
            hw_function("plus-one", PLUS_ONE, ["x"], ["out"]),
            hw_dataflow("good", [{"name": "p", "function": "plus-one", "inputs": ["x"]}]),
            hw_run("good-run", "good", parameters={"x": {"value": 1}}),
        ],
        namespace,
    )
    wait_run(cluster, namespace, "good-run", "Succeeded")


def test_schema_rejects_bad_manifests(cluster: Cluster, namespace: str, operator: Operator) -> None:
    too_many = hw_run("r", "flow", retries=12)
    assert "retries" in rejected(cluster, namespace, too_many)

    two_sources = {
        "apiVersion": HEADWATER_API,
        "kind": "Dataset",
        "metadata": {"name": "two"},
        "spec": {"source": {"uri": "file:///data/a.csv", "inline": {"a": 1}}},
    }
    assert "source" in rejected(cluster, namespace, two_sources)

    both = hw_run("r", "flow", parameters={"x": {"dataset": "d", "value": 1}})
    message = rejected(cluster, namespace, both)
    assert "parameters" in message, message

    long_name = hw_run("r" * 64, "flow")
    message = rejected(cluster, namespace, long_name)
    assert "63" in message, message

    left = cluster.kubectl("get", "runs,datasets", "-n", namespace, "-o", "name").stdout
    assert left.strip() == ""


def test_invalid_objects_get_false_conditions(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    cluster.apply(
        [
            hw_function("plus-one", PLUS_ONE, ["x"], ["out"]),
            hw_function("no-handler", PLUS_ONE, ["x"], ["out"], handler="missing"),
            hw_dataflow(
                "cycle",
                [
                    {
                        "name": "first",
                        "function": "plus-one",
                        "inputs": {"x": "b"},
                        "outputs": ["a"],
                    },
                    {
                        "name": "second",
                        "function": "plus-one",
                        "inputs": {"x": "a"},
                        "outputs": ["b"],
                    },
                ],
            ),
            hw_dataflow(
                "twice",
                [
                    {
                        "name": "same",
                        "function": "plus-one",
                        "inputs": {"x": "x"},
                        "outputs": ["a"],
                    },
                    {
                        "name": "same",
                        "function": "plus-one",
                        "inputs": {"x": "x"},
                        "outputs": ["b"],
                    },
                ],
            ),
            hw_run("cycle-run", "cycle"),
        ],
        namespace,
    )
    handler = wait_false(cluster, namespace, "function", "no-handler")
    assert "missing" in handler["message"], handler

    cycle = wait_false(cluster, namespace, "dataflow", "cycle")
    assert "cycle" in cycle["message"].lower(), cycle
    assert "first" in cycle["message"] and "second" in cycle["message"], cycle

    twice = wait_false(cluster, namespace, "dataflow", "twice")
    assert "same" in twice["message"], twice
    assert "duplicate" in twice["message"].lower() or "unique" in twice["message"].lower(), twice

    status = wait_run(cluster, namespace, "cycle-run", "Failed")
    failed = next(c for c in status["conditions"] if c["type"] == "Succeeded")
    assert failed["reason"] == "InvalidDataflow", failed
    assert "cycle" in failed["message"].lower(), failed

    good_run(cluster, namespace)


def test_runs_with_bad_bindings_fail_with_the_reason(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    flow = hw_dataflow("good", [{"name": "p", "function": "plus-one", "inputs": ["x"]}])
    cluster.apply(
        [
            hw_function("plus-one", PLUS_ONE, ["x"], ["out"]),
            flow,
            hw_run("unknown", "good", parameters={"x": {"value": 1}, "zzz": {"value": 2}}),
            hw_run("unbound", "good"),
        ],
        namespace,
    )
    for run, named in (("unknown", "zzz"), ("unbound", "x")):
        status = wait_run(cluster, namespace, run, "Failed")
        failed = next(c for c in status["conditions"] if c["type"] == "Succeeded")
        assert failed["reason"] == "InvalidDataflow", failed
        assert f"'{named}'" in failed["message"] or f" {named} " in failed["message"], failed
    good_run(cluster, namespace)


def test_a_value_that_breaks_its_schema_fails_before_any_job(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    threshold = hw_function("keep-above", "def main(x):\n    return x\n", ["x"], ["out"])
    threshold["spec"]["params"][0]["schema"] = {"type": "number"}
    cluster.apply(
        [
            threshold,
            hw_dataflow("above", [{"name": "keep", "function": "keep-above", "inputs": ["x"]}]),
            hw_run("fifty", "above", parameters={"x": {"value": "fifty"}}),
        ],
        namespace,
    )
    status = wait_run(cluster, namespace, "fifty", "Failed")
    failed = next(c for c in status["conditions"] if c["type"] == "Succeeded")
    assert failed["reason"] == "InvalidParameters", failed
    assert failed["message"] == (
        "Run/fifty spec.parameters.x.value: 'x': the value 'fifty' does not match the schema"
        " of parameter 'x' of node 'keep': 'fifty' is not of type 'number' (rule type: 'number')"
    )
    assert cluster.json("jobs", "-n", namespace)["items"] == []
    good_run(cluster, namespace)


def test_the_api_server_fills_in_a_functions_type_and_refuses_sinks_with_outputs(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    cluster.apply(hw_function("plus-one", PLUS_ONE, ["x"], ["out"]), namespace)
    shown = cluster.kubectl("get", "functions", "-n", namespace, "--no-headers").stdout.split()
    assert shown[:3] == ["plus-one", "main", "transformer"], shown
    sink = hw_function("store", "def main(x):\n    pass\n", ["x"], ["out"])
    sink["spec"]["type"] = "sink"
    assert "a sink declares no outputs" in rejected(cluster, namespace, sink)


def test_messages_name_what_was_probably_meant(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    cluster.apply(
        [
            hw_function("plus-one", PLUS_ONE, ["x"], ["filtered"]),
            hw_dataflow(
                "typo",
                [
                    {"name": "filter", "function": "plus-one", "inputs": {"x": "x"}},
                    {
                        "name": "total",
                        "function": "plus-one",
                        "inputs": {"x": "filterd"},
                        "outputs": ["total"],
                    },
                ],
            ),
            hw_run("waits", "typ", parameters={"x": {"value": 1}}),
        ],
        namespace,
    )

    def ready_with_warning() -> dict | None:
        found = condition(cluster, namespace, "dataflow", "typo", "Ready")
        return found if found and "warning" in found["message"] else None

    ready = wait_for(ready_with_warning, 60, "Dataflow typo's warning")
    assert ready["status"] == "True", ready
    assert "spec.nodes[1].inputs.x: node 'total' reads 'filterd'" in ready["message"], ready
    assert "did you mean 'filtered'" in ready["message"], ready

    def waiting() -> dict | None:
        status = run_status(cluster, namespace, "waits")
        found = next((c for c in status.get("conditions", []) if c["type"] == "Succeeded"), None)
        return found if found and found["reason"] == "DataflowNotFound" else None

    pending = wait_for(waiting, 60, "Run waits to wait for its Dataflow")
    assert pending["message"] == "waiting for Dataflow typ (did you mean 'typo'?)", pending
