"""What a Run owns goes with it, and a Run sees only its own namespace."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from conftest import (
    HEADWATER_API,
    hw_dataflow,
    hw_function,
    hw_run,
    of_run,
    run_status,
    running_pod,
    sleeper,
    wait_for,
    wait_run,
)

if TYPE_CHECKING:
    from conftest import Cluster, Operator

pytestmark = pytest.mark.e2e

ECHO = "def main(x):\n    return x\n"


def test_deleting_a_run_deletes_its_jobs_pods_and_snapshot(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    sleeper(cluster, namespace)
    wait_for(lambda: running_pod(cluster, namespace), 60, "the node's pod to run")
    assert of_run(cluster, namespace, "jobs", "r")
    assert of_run(cluster, namespace, "configmaps", "r"), "the Run's snapshot ConfigMap"

    cluster.kubectl("delete", "run", "r", "-n", namespace, "--wait=false")
    for kind in ("jobs", "pods", "configmaps"):
        wait_for(lambda k=kind: of_run(cluster, namespace, k, "r") == [], 90, f"the Run's {kind}")


def test_a_run_sees_only_its_namespace(
    cluster: Cluster, namespace: str, other_namespace: str, operator: Operator
) -> None:
    # Everything the Run would like exists, but only in the other namespace.
    cluster.apply(
        [
            {
                "apiVersion": HEADWATER_API,
                "kind": "Dataset",
                "metadata": {"name": "shared"},
                "spec": {"source": {"inline": {"answer": 42}}},
            },
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "code"},
                "data": {"main.py": ECHO},
            },
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "creds"},
                "stringData": {"token": "s3cret"},
            },
        ],
        other_namespace,
    )
    from_other = hw_function("from-other", "", ["x"], ["out"])
    from_other["spec"]["code"] = {"configMapKeyRef": {"name": "code", "key": "main.py"}}
    cluster.apply(
        [
            hw_function("echo", ECHO, ["x"], ["out"]),
            from_other,
            {
                "apiVersion": HEADWATER_API,
                "kind": "Dataset",
                "metadata": {"name": "token"},
                "spec": {"source": {"secretKeyRef": {"name": "creds", "key": "token"}}},
            },
            hw_dataflow("flow", [{"name": "e", "function": "echo", "inputs": ["x"]}]),
            hw_run("r", "flow", parameters={"x": {"dataset": "shared"}}),
        ],
        namespace,
    )

    def ready(kind: str, name: str) -> dict | None:
        status = cluster.json(kind, name, "-n", namespace).get("status") or {}
        return next((c for c in status.get("conditions", []) if c["type"] == "Ready"), None)

    code = wait_for(lambda: ready("function", "from-other"), 60, "from-other's Ready")
    assert code["status"] == "False" and code["reason"] == "CodeNotFound", code
    assert "ConfigMap code" in code["message"], code
    # The operator never reads Secrets, of this namespace or another: it cannot say.
    secret = wait_for(lambda: ready("dataset", "token"), 60, "token's Ready")
    assert secret["status"] == "Unknown" and secret["reason"] == "NotChecked", secret

    def waiting() -> dict | None:
        status = run_status(cluster, namespace, "r")
        found = next((c for c in status.get("conditions", []) if c["type"] == "Succeeded"), None)
        return found if status.get("phase") == "Pending" and found else None

    pending = wait_for(waiting, 60, "the Run to say what it waits for")
    assert pending["status"] == "Unknown", pending
    assert "Dataset shared" in pending["message"], pending
    assert of_run(cluster, namespace, "jobs", "r") == []

    # Once the Dataset exists in the Run's own namespace, the Run goes on.
    cluster.apply(
        {
            "apiVersion": HEADWATER_API,
            "kind": "Dataset",
            "metadata": {"name": "shared"},
            "spec": {"source": {"inline": {"answer": 7}}},
        },
        namespace,
    )
    wait_run(cluster, namespace, "r", "Succeeded")
