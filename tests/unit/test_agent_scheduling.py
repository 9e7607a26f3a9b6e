"""The node agent's pure decisions: where a Pod fits (kube-scheduler's rules and words),
which images cannot be pulled, which claims the provisioner refuses."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cluster"))
from agent.images import pull_error, registry_host, with_default_tag
from agent.provisioner import unsupported
from agent.scheduling import node_problem, unschedulable_message

NO_PREEMPTION = "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
AFFINITY = "node(s) didn't match Pod's node affinity/selector"


def node(labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "n1", "labels": labels or {}}, "spec": spec}


def pod(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": "ns"}, "spec": {"containers": [], **spec}}


def required(*terms: dict[str, Any]) -> dict[str, Any]:
    selector = {"nodeSelectorTerms": list(terms)}
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": selector}}


def expr(key: str, operator: str, *values: str) -> dict[str, Any]:
    return {"matchExpressions": [{"key": key, "operator": operator, "values": list(values)}]}


def claim(name: str, phase: str = "Bound", **meta: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, **meta},
        "spec": {"volumeName": "pv" if phase == "Bound" else ""},
        "status": {"phase": phase},
    }


def claim_volumes(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "persistentVolumeClaim": {"claimName": n}} for n in names]


def test_a_fitting_pod_has_no_message() -> None:
    labelled = node({"zone": "a", "size": "7"})
    spec = {"nodeSelector": {"zone": "a"}, "affinity": required(expr("size", "Gt", "3"))}
    assert unschedulable_message(pod(**spec), labelled, {}) is None


@pytest.mark.parametrize(
    ("term", "fits"),
    [
        (expr("zone", "In", "a", "b"), True),
        (expr("zone", "In", "b"), False),
        (expr("zone", "NotIn", "b"), True),
        (expr("gone", "NotIn", "b"), True),
        (expr("zone", "Exists"), True),
        (expr("zone", "DoesNotExist"), False),
        (expr("size", "Lt", "10"), True),
        (expr("size", "Gt", "10"), False),
        (expr("zone", "Gt", "1"), False),
        ({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}, True),
        ({"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]}, False),
        ({}, False),
    ],
)
def test_required_node_affinity_operators(term: dict[str, Any], fits: bool) -> None:
    labelled = node({"zone": "a", "size": "7"})
    problem = node_problem(pod(affinity=required(term)), labelled)
    assert problem == (None if fits else AFFINITY)


def test_node_selector_terms_are_ored_and_selector_anded() -> None:
    labelled = node({"zone": "a"})
    either = required(expr("zone", "In", "x"), expr("zone", "In", "a"))
    assert node_problem(pod(affinity=either), labelled) is None
    both = {"affinity": either, "nodeSelector": {"disk": "ssd"}}
    message = unschedulable_message(pod(**both), labelled, {})
    assert message == f"0/1 nodes are available: 1 {AFFINITY}. {NO_PREEMPTION}"


@pytest.mark.parametrize(
    ("toleration", "tolerated"),
    [
        ({"key": "gpu", "operator": "Exists"}, True),
        ({"operator": "Exists"}, True),
        ({"key": "gpu", "value": "yes"}, True),
        ({"key": "gpu", "operator": "Equal", "value": "no"}, False),
        ({"key": "gpu", "operator": "Exists", "effect": "NoExecute"}, False),
        ({"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}, True),
    ],
)
def test_tolerations(toleration: dict[str, Any], tolerated: bool) -> None:
    tainted = node(taints=[{"key": "gpu", "value": "yes", "effect": "NoSchedule"}])
    problem = node_problem(pod(tolerations=[toleration]), tainted)
    assert problem == (None if tolerated else "node(s) had untolerated taint {gpu: yes}")


def test_prefer_no_schedule_taints_do_not_block_and_cordon_does() -> None:
    soft = node(taints=[{"key": "k", "effect": "PreferNoSchedule"}])
    assert node_problem(pod(), soft) is None
    cordoned = node(unschedulable=True)
    assert node_problem(pod(), cordoned) == "node(s) were unschedulable"
    tolerant = [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists"}]
    assert node_problem(pod(tolerations=tolerant), cordoned) is None


def test_taints_are_checked_before_affinity() -> None:
    tainted = node(taints=[{"key": "k", "effect": "NoExecute"}])
    problem = node_problem(pod(nodeSelector={"a": "b"}), tainted)
    assert problem == "node(s) had untolerated taint {k: }"


def test_claim_problems_come_first_missing_before_unbound() -> None:
    volumes = claim_volumes("pending", "absent")
    claims = {"pending": claim("pending", "Pending")}
    tainted = node(taints=[{"key": "k", "effect": "NoSchedule"}])
    message = unschedulable_message(pod(volumes=volumes), tainted, claims)
    missing = 'persistentvolumeclaim "absent" not found'
    assert message == f"0/1 nodes are available: {missing}. {NO_PREEMPTION}"
    claims["absent"] = claim("absent")
    message = unschedulable_message(pod(volumes=volumes), node(), claims)
    unbound = "pod has unbound immediate PersistentVolumeClaims"
    assert message == f"0/1 nodes are available: {unbound}. {NO_PREEMPTION}"
    claims["pending"] = claim("pending")
    assert unschedulable_message(pod(volumes=volumes), node(), claims) is None


def test_claims_being_deleted_lost_or_ephemeral() -> None:
    deleting = {"data": claim("data", deletionTimestamp="2026-01-01T00:00:00Z")}
    message = unschedulable_message(pod(volumes=claim_volumes("data")), node(), deleting)
    assert 'persistentvolumeclaim "data" is being deleted.' in str(message)
    lost = {"data": claim("data", "Lost")}
    message = unschedulable_message(pod(volumes=claim_volumes("data")), node(), lost)
    assert 'bound to non-existent persistentvolume ""' in str(message)
    ephemeral = [{"name": "scratch", "ephemeral": {"volumeClaimTemplate": {}}}]
    message = unschedulable_message(pod(volumes=ephemeral), node(), {})
    expected = (
        'waiting for ephemeral volume controller to create the persistentvolumeclaim "p-scratch"'
    )
    assert message == f"0/1 nodes are available: {expected}. {NO_PREEMPTION}"


def test_a_pod_that_may_not_preempt_says_so() -> None:
    message = unschedulable_message(
        pod(preemptionPolicy="Never", nodeSelector={"a": "b"}), node(), {}
    )
    assert message == (
        f"0/1 nodes are available: 1 {AFFINITY}. "
        "preemption: not eligible due to preemptionPolicy=Never."
    )


@pytest.mark.parametrize(
    ("image", "host"),
    [
        ("registry.invalid/app", "registry.invalid"),
        ("registry.invalid:5000/team/app:1", "registry.invalid"),
        ("localhost/app", "localhost"),
        ("app.invalid", None),
        ("team/app", None),
        ("busybox", None),
    ],
)
def test_registry_host(image: str, host: str | None) -> None:
    assert registry_host(image) == host


def test_only_invalid_registries_fail_to_pull() -> None:
    assert pull_error("busybox") is None
    assert pull_error("quay.io/team/app:1") is None
    assert pull_error("invalid.example.com/app") is None
    error = pull_error("registry.invalid:5000/team/app@sha256:ab")
    assert error is not None
    assert 'Head "https://registry.invalid:5000/v2/team/app/manifests/sha256:ab"' in error
    assert error.endswith("dial tcp: lookup registry.invalid: no such host")
    assert with_default_tag("registry.invalid:5000/app") == "registry.invalid:5000/app:latest"


@pytest.mark.parametrize(
    ("spec", "refused"),
    [
        ({"accessModes": ["ReadWriteOnce"]}, None),
        ({"accessModes": ["ReadOnlyMany", "ReadWriteOncePod"]}, None),
        ({"accessModes": ["ReadWriteOnce", "ReadWriteMany"]}, "access mode ReadWriteMany"),
        ({"accessModes": ["ReadWriteOnce"], "volumeMode": "Block"}, "volumeMode Block"),
        ({"accessModes": ["ReadWriteOnce"], "selector": {"matchLabels": {"a": "b"}}}, "Selector"),
    ],
)
def test_provisioner_refuses_what_one_node_cannot_serve(
    spec: dict[str, Any], refused: str | None
) -> None:
    problem = unsupported({"spec": spec})
    assert (problem is None) if refused is None else (refused in str(problem))
