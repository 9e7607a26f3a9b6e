"""The hostile corpus against a running operator: every object a user with the
`headwater-edit` role can apply in their own namespace is applied to one namespace,
while a normal Run in another namespace must still succeed; each accepted hostile object
ends with the condition the corpus records, and the operator never dies."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from conftest import PLUS_ONE, hw_dataflow, hw_function, hw_run, wait_for, wait_run

sys.path.insert(0, str(Path(__file__).parents[1] / "hostile"))
from corpus import Case, Expected, cases, to_json

if TYPE_CHECKING:
    from conftest import Cluster, Operator

pytestmark = pytest.mark.e2e

PLURALS = {"Run": "runs", "Dataflow": "dataflows", "Function": "functions", "Dataset": "datasets"}


def create(cluster: Cluster, namespace: str, document: dict[str, Any]) -> bool:
    proc = cluster.kubectl(
        "create", "-n", namespace, "-f", "-", input=to_json(document), check=False, timeout=120
    )
    return proc.returncode == 0


def verdict_seen(cluster: Cluster, namespace: str, expected: Expected) -> str | None:
    """None once the object carries the expected condition; else what it carries."""
    found = cluster.kubectl(
        "get", PLURALS[expected.kind], expected.name, "-n", namespace,
        "-o", "jsonpath={.status.conditions}", check=False,
    )  # fmt: skip
    conditions = json.loads(found.stdout or "[]") if found.returncode == 0 else []
    condition = next((c for c in conditions if c["type"] == expected.type), None)
    if condition is None:
        return f"no {expected.type} condition"
    matches = (
        condition["status"] == expected.status
        and condition["reason"] == expected.reason
        and expected.fragment in condition.get("message", "")
    )
    return (
        None
        if matches
        else f"{condition['status']} {condition['reason']}: {condition.get('message', '')[:300]}"
    )


def test_no_hostile_object_stops_the_operator_for_another_namespace(
    cluster: Cluster, namespace: str, other_namespace: str, operator: Operator
) -> None:
    accepted: list[Case] = []
    for index, case in enumerate(cases()):
        set_up = all(create(cluster, namespace, document) for document in case.setup)
        created = set_up and create(cluster, namespace, case.hostile)
        if created and isinstance(case.verdict, Expected):
            accepted.append(case)
        if index == 10:
            # Hostile objects are in; a normal Run elsewhere is served meanwhile.
            cluster.apply(
                [
                    hw_function("plus-one", PLUS_ONE, ["x"], ["out"]),
                    hw_dataflow("one", [{"name": "only", "function": "plus-one", "inputs": ["x"]}]),
                    hw_run("normal", "one", parameters={"x": {"value": 1}}),
                ],
                other_namespace,
            )
    wait_run(cluster, other_namespace, "normal", "Succeeded", timeout=180)
    assert len(accepted) > 20, "most of the corpus reaches the operator"

    def outstanding() -> dict[str, str]:
        left = {}
        for case in accepted:
            assert isinstance(case.verdict, Expected)
            why = verdict_seen(cluster, namespace, case.verdict)
            if why is not None:
                left[case.name] = why
        return left

    try:
        wait_for(lambda: not outstanding(), 300, "every hostile object's condition")
    finally:
        left = outstanding()
    assert left == {}
    assert operator.alive, "the operator died"
    cluster.apply(hw_run("after", "one", parameters={"x": {"value": 2}}), other_namespace)
    wait_run(cluster, other_namespace, "after", "Succeeded", timeout=120)
