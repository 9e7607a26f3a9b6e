"""What a node receives on the cluster: Datasets from a Secret or the artifact store,
env from the Function and the Run; retries that end in success; manifests applied in
any order; and the node Pods' restricted security settings."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from conftest import (
    HEADWATER_API,
    claim_path,
    cluster_dir,
    hw_dataflow,
    hw_function,
    hw_run,
    items,
    run_status,
    wait_for,
    wait_run,
)

from headwater.artifacts import read_artifact

if TYPE_CHECKING:
    from conftest import Cluster, Operator

pytestmark = pytest.mark.e2e


def dataset(name: str, source: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": HEADWATER_API,
        "kind": "Dataset",
        "metadata": {"name": name},
        "spec": {"source": source, **spec},
    }


def output(cluster: Cluster, namespace: str, status: dict[str, Any], name: str) -> Any:
    return read_artifact(claim_path(cluster, namespace, status["outputs"][name]))


def test_secret_and_store_datasets_and_env(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    base = cluster_dir(cluster)
    assert base is not None
    stored = base / "node" / "claims" / namespace / "headwater-artifacts" / "inputs"
    stored.mkdir(parents=True)
    (stored / "numbers.json").write_text(json.dumps([1, 2, 3, 4]))

    reads = hw_function(
        "reads",
        "import os\n\n"
        "def main(token_path, numbers, scale):\n"
        "    with open(token_path) as f:\n"
        "        token = f.read()\n"
        "    env = [os.environ[k] for k in ('EXAMPLE_ENV', 'LOG_LEVEL', 'HEADWATER_NODE')]\n"
        "    return token, sum(numbers) * scale, '/'.join(env)\n",
        [],
        ["token", "total", "env"],
    )
    reads["spec"]["params"] = [
        {"name": "token_path", "type": "path"},
        {"name": "numbers", "type": "artifact"},
        {"name": "scale", "type": "value", "default": 10},
    ]
    reads["spec"]["env"] = [{"name": "LOG_LEVEL", "value": "debug"}]
    cluster.apply(
        [
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "creds"},
                "stringData": {"token": "s3cret"},
            },
            dataset("token", {"secretKeyRef": {"name": "creds", "key": "token"}}, format="text"),
            dataset("numbers", {"uri": "inputs/numbers.json"}),
            reads,
            hw_dataflow(
                "flow",
                [{"name": "reader", "function": "reads", "inputs": ["token_path", "numbers"]}],
            ),
            hw_run(
                "r",
                "flow",
                parameters={"token_path": {"dataset": "token"}, "numbers": {"dataset": "numbers"}},
                env=[{"name": "EXAMPLE_ENV", "value": "example"}],
            ),
        ],
        namespace,
    )
    status = wait_run(cluster, namespace, "r", "Succeeded")
    assert output(cluster, namespace, status, "token") == "s3cret"
    assert output(cluster, namespace, status, "total") == 100
    assert output(cluster, namespace, status, "env") == "example/debug/reader"

    numbers = cluster.json("dataset", "numbers", "-n", namespace)["status"]
    assert numbers["uri"] == "/var/lib/headwater/store/inputs/numbers.json", numbers
    # Written into the claim behind headwater's back, not pushed: the operator cannot
    # look inside the PVC, so it says it does not know the file is there (the Run
    # still reads it).
    ready = next(c for c in numbers["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "NotPushed"), ready
    assert "/var/lib/headwater/store/inputs/numbers.json" in ready["message"], ready


def test_a_retry_that_succeeds(cluster: Cluster, namespace: str, operator: Operator) -> None:
    # The store is shared by the attempts' Pods: the first leaves a mark and fails.
    flaky = (
        "import os\n\n"
        "MARK = '/var/lib/headwater/store/tried-once'\n\n"
        "def main(x):\n"
        "    if not os.path.exists(MARK):\n"
        "        open(MARK, 'w').close()\n"
        "        raise RuntimeError('first attempt fails')\n"
        "    return x\n"
    )
    cluster.apply(
        [
            hw_function("flaky", flaky, ["x"], ["out"]),
            hw_dataflow("flow", [{"name": "f", "function": "flaky", "inputs": ["x"]}]),
            hw_run("r", "flow", parameters={"x": {"value": 3}}, retries=1),
        ],
        namespace,
    )
    status = wait_run(cluster, namespace, "r", "Succeeded")
    assert status["nodes"]["f"]["attempts"] == 2, status["nodes"]
    assert output(cluster, namespace, status, "out") == 3
    assert len(items(cluster, namespace, "pods", "headwater.dev/node=f")) == 2


def test_run_applied_before_what_it_needs(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    cluster.apply(hw_run("r", "later", parameters={"x": {"dataset": "seven"}}), namespace)

    def waiting_for(reason: str) -> dict | None:
        status = run_status(cluster, namespace, "r")
        found = next((c for c in status.get("conditions", []) if c["type"] == "Succeeded"), None)
        return found if found and found["reason"] == reason else None

    missing = wait_for(lambda: waiting_for("DataflowNotFound"), 30, "DataflowNotFound")
    assert "later" in missing["message"], missing
    cluster.apply(
        hw_dataflow("later", [{"name": "p", "function": "plus-one", "inputs": ["x"]}]), namespace
    )
    missing = wait_for(lambda: waiting_for("FunctionNotFound"), 30, "FunctionNotFound")
    assert "plus-one" in missing["message"], missing
    cluster.apply(
        hw_function("plus-one", "def main(x):\n    return x + 1\n", ["x"], ["out"]), namespace
    )
    missing = wait_for(lambda: waiting_for("DataNotFound"), 30, "DataNotFound")
    assert "seven" in missing["message"], missing
    assert run_status(cluster, namespace, "r")["phase"] == "Pending"
    cluster.apply(dataset("seven", {"inline": 7}), namespace)
    status = wait_run(cluster, namespace, "r", "Succeeded")
    assert output(cluster, namespace, status, "out") == 8


def test_node_pods_are_restricted(cluster: Cluster, namespace: str, operator: Operator) -> None:
    cluster.apply(
        [
            hw_function("echo", "def main(x):\n    return x\n", ["x"], ["out"]),
            hw_dataflow("flow", [{"name": "e", "function": "echo", "inputs": ["x"]}]),
            hw_run("r", "flow", parameters={"x": {"value": 1}}),
        ],
        namespace,
    )
    wait_run(cluster, namespace, "r", "Succeeded")
    (job,) = items(cluster, namespace, "jobs", "headwater.dev/run=r")
    run_uid = cluster.json("run", "r", "-n", namespace)["metadata"]["uid"]
    assert job["metadata"]["ownerReferences"][0]["uid"] == run_uid
    pod = job["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"]["drop"] == ["ALL"]


def test_longest_names(cluster: Cluster, namespace: str, operator: Operator) -> None:
    """Names at Kubernetes' limits: a 63-character Run and node, a Dataflow and a
    Function with long (253-character) names."""
    run = "r" * 63
    node = "n" * 63
    flow = "d" * 253
    function = "f" * 253
    cluster.apply(
        [
            hw_function(function, "def main(x):\n    return x * 2\n", ["x"], ["out"]),
            hw_dataflow(flow, [{"name": node, "function": function, "inputs": ["x"]}]),
            hw_run(run, flow, parameters={"x": {"value": 21}}),
        ],
        namespace,
    )
    status = wait_run(cluster, namespace, run, "Succeeded")
    assert output(cluster, namespace, status, "out") == 42
    (job,) = items(cluster, namespace, "jobs", f"headwater.dev/run={run}")
    assert len(job["metadata"]["name"]) <= 63


def test_function_from_an_importable_module(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    mean = hw_function("mean", "", ["data"], ["average"], handler="mean")
    mean["spec"]["code"] = {"module": "statistics"}
    cluster.apply(
        [
            mean,
            hw_dataflow("flow", [{"name": "avg", "function": "mean", "inputs": ["data"]}]),
            hw_run("r", "flow", parameters={"data": {"value": [1, 2, 3, 6]}}),
        ],
        namespace,
    )
    status = wait_run(cluster, namespace, "r", "Succeeded")
    assert output(cluster, namespace, status, "average") == 3
