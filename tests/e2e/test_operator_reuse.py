"""Reuse in a cluster: resumeFrom that checks fingerprints, and the namespace's cache,
which answers a Run that changed nothing with no Job at all."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from conftest import claim_path, hw_dataflow, hw_function, hw_run, items, run_status, wait_run

from headwater.artifacts import read_artifact

if TYPE_CHECKING:
    from conftest import Cluster, Operator

pytestmark = pytest.mark.e2e

STEP = "def main(x):\n    return x + 1\n"
LENGTH = 20


def chain(last_code: str = STEP) -> list[dict[str, Any]]:
    nodes = [
        {
            "name": f"n{i}",
            "function": "last" if i == LENGTH - 1 else "step",
            "inputs": {"x": "x" if i == 0 else f"v{i - 1}"},
            "outputs": [f"v{i}"],
        }
        for i in range(LENGTH)
    ]
    return [
        hw_function("step", STEP, ["x"], ["y"]),
        hw_function("last", last_code, ["x"], ["y"]),
        hw_dataflow("chain", nodes),
    ]


def cached(name: str, **parameters: Any) -> dict[str, Any]:
    bound = parameters or {"x": {"value": 0}}
    return hw_run(name, "chain", parameters=bound, cache={"enabled": True})


def jobs_of(cluster: Cluster, namespace: str, run: str) -> list[dict]:
    return items(cluster, namespace, "jobs", f"headwater.dev/run={run}")


def result(cluster: Cluster, namespace: str, status: dict, name: str) -> object:
    return read_artifact(claim_path(cluster, namespace, status["outputs"][name]))


def test_a_cached_chain_run_twice_makes_no_job_and_a_change_reruns_only_below_it(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    cluster.apply([*chain(), cached("one")], namespace)
    wait_run(cluster, namespace, "one", "Succeeded", timeout=300)
    assert len(jobs_of(cluster, namespace, "one")) == LENGTH

    cluster.apply(cached("two"), namespace)
    two = wait_run(cluster, namespace, "two", "Succeeded", timeout=60)
    assert jobs_of(cluster, namespace, "two") == [], "every node came from the cache"
    # It ended in the reconcile that started it: nothing to wait for.
    assert two["startedAt"] == two["finishedAt"], two
    print(f"cached run of {LENGTH} nodes: {two['duration']}")
    assert all(node["reusedFrom"] == "one" for node in two["nodes"].values())
    assert result(cluster, namespace, two, f"v{LENGTH - 1}") == LENGTH

    # The last node's code changes: it alone runs again.
    cluster.apply([*chain("def main(x):\n    return x + 100\n"), cached("three")], namespace)
    three = wait_run(cluster, namespace, "three", "Succeeded", timeout=120)
    assert [
        j["metadata"]["labels"]["headwater.dev/node"] for j in jobs_of(cluster, namespace, "three")
    ] == [f"n{LENGTH - 1}"]
    assert result(cluster, namespace, three, f"v{LENGTH - 1}") == LENGTH - 1 + 100


def test_changed_dataset_content_reruns_its_readers(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    def dataset(values: list[int]) -> dict:
        return {
            "apiVersion": "headwater.dev/v1alpha1",
            "kind": "Dataset",
            "metadata": {"name": "numbers"},
            "spec": {"source": {"inline": values}},
        }

    total = hw_function("total", "def main(xs):\n    return sum(xs)\n", ["xs"], ["sum"])
    const = hw_function("const", "def main():\n    return 7\n", [], ["seven"])
    flow = hw_dataflow(
        "d",
        [
            {"name": "total", "function": "total", "inputs": ["xs"]},
            {"name": "const", "function": "const"},
        ],
    )

    def cached_run(name: str) -> dict:
        spec = {"parameters": {"xs": {"dataset": "numbers"}}, "cache": {"enabled": True}}
        cluster.apply(hw_run(name, "d", **spec), namespace)
        return wait_run(cluster, namespace, name, "Succeeded", timeout=120)

    cluster.apply([dataset([1, 2, 3]), total, const, flow], namespace)
    cached_run("one")
    cluster.apply(dataset([10, 20, 30]), namespace)
    two = cached_run("two")
    assert [
        j["metadata"]["labels"]["headwater.dev/node"] for j in jobs_of(cluster, namespace, "two")
    ] == ["total"]
    assert result(cluster, namespace, two, "sum") == 60


def sales(min_amount: float, name: str, **spec: Any) -> list[dict]:
    keep = hw_function(
        "keep",
        "def main(amounts, min_amount):\n    return [a for a in amounts if a >= min_amount]\n",
        ["amounts", "min_amount"],
        ["kept"],
    )
    total = hw_function("total", "def main(kept):\n    return sum(kept)\n", ["kept"], ["sum"])
    count = hw_function(
        "count", "def main(amounts):\n    return len(amounts)\n", ["amounts"], ["n"]
    )
    flow = hw_dataflow(
        "sales",
        [
            {"name": "keep", "function": "keep", "inputs": ["amounts", "min_amount"]},
            {"name": "total", "function": "total", "inputs": ["kept"]},
            {"name": "count", "function": "count", "inputs": ["amounts"]},
        ],
    )
    parameters = {"amounts": {"value": [5, 50, 500, 5000]}, "min_amount": {"value": min_amount}}
    return [keep, total, count, flow, hw_run(name, "sales", parameters=parameters, **spec)]


def test_resume_with_a_changed_value_reruns_what_depends_on_it_and_says_why(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    cluster.apply(sales(1e9, "first"), namespace)
    first = wait_run(cluster, namespace, "first", "Succeeded", timeout=120)
    assert result(cluster, namespace, first, "sum") == 0
    cluster.apply(sales(50, "second", resumeFrom="first"), namespace)
    second = wait_run(cluster, namespace, "second", "Succeeded", timeout=120)
    assert result(cluster, namespace, second, "sum") == 5550
    nodes = second["nodes"]
    assert nodes["count"]["reusedFrom"] == "first"
    assert nodes["keep"]["message"] == "ran: a value it is given changed since run first"
    assert nodes["total"]["message"] == "ran: an upstream result it reads changed since run first"
    assert sorted(
        j["metadata"]["labels"]["headwater.dev/node"] for j in jobs_of(cluster, namespace, "second")
    ) == ["keep", "total"]


def test_resume_from_a_run_that_does_not_exist_fails_naming_the_closest(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    cluster.apply(sales(10, "first"), namespace)
    wait_run(cluster, namespace, "first", "Succeeded", timeout=120)
    cluster.apply(
        hw_run(
            "second",
            "sales",
            resumeFrom="frist",
            parameters={"amounts": {"value": [1]}, "min_amount": {"value": 1}},
        ),
        namespace,
    )
    status = wait_run(cluster, namespace, "second", "Failed", timeout=60)
    condition = next(c for c in status["conditions"] if c["type"] == "Succeeded")
    assert condition["reason"] == "ResumeFromNotFound", condition
    assert "Run frist does not exist; did you mean 'first'?" in condition["message"]
    assert jobs_of(cluster, namespace, "second") == []
    assert run_status(cluster, namespace, "second")["phase"] == "Failed"
