"""Whether a Pod fits a Node, answered with kube-scheduler's (v1.33) reasons and message.

Pure functions over API objects. The checks are the default profile's that can fail on
this cluster, in its order: PreFilter (VolumeRestrictions and VolumeBinding: the Pod's
claims exist, are not being deleted or lost, and are bound), then per node the Filters
NodeUnschedulable, TaintToleration and NodeAffinity (nodeSelector and required node
affinity). A PreFilter failure is the whole message; otherwise each node contributes
its first failing Filter's reason, counted ("1 node(s) ..."). Preemption (the PostFilter)
can never help here, and says so as the scheduler does. The cluster has one node.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]

REASON_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
REASON_UNSCHEDULABLE = "node(s) were unschedulable"
REASON_UNBOUND = "pod has unbound immediate PersistentVolumeClaims"
UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"
BLOCKING_EFFECTS = ("NoSchedule", "NoExecute")


def claim_names(pod: Obj) -> list[tuple[str, bool]]:
    """(claim name, is generic ephemeral) for each claim-backed volume, in volume order."""
    names = []
    for volume in pod["spec"].get("volumes") or []:
        if "persistentVolumeClaim" in volume:
            names.append((volume["persistentVolumeClaim"]["claimName"], False))
        elif "ephemeral" in volume:
            names.append((f"{pod['metadata']['name']}-{volume['name']}", True))
    return names


def claim_problem(pod: Obj, claims: dict[str, Obj]) -> str | None:
    """The PreFilter verdict on the Pod's claims (`claims`: its namespace's, by name)."""
    for name, ephemeral in claim_names(pod):
        if not ephemeral and name not in claims:
            return f'persistentvolumeclaim "{name}" not found'
    for name, _ in claim_names(pod):
        claim = claims.get(name)
        quoted = f'persistentvolumeclaim "{name}"'
        if claim is None:
            return f"waiting for ephemeral volume controller to create the {quoted}"
        if claim.get("status", {}).get("phase") == "Lost":
            volume = claim["spec"].get("volumeName", "")
            return f'{quoted} bound to non-existent persistentvolume "{volume}"'
        if claim["metadata"].get("deletionTimestamp"):
            return f"{quoted} is being deleted"
    for name, _ in claim_names(pod):
        claim = claims[name]
        if not claim["spec"].get("volumeName") or claim.get("status", {}).get("phase") != "Bound":
            return REASON_UNBOUND
    return None


def tolerates(toleration: Obj, taint: Obj) -> bool:
    if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
        return False
    if toleration.get("operator") == "Exists":
        return not toleration.get("key") or toleration["key"] == taint["key"]
    return toleration.get("key") == taint["key"] and toleration.get("value", "") == taint.get(
        "value", ""
    )


def untolerated_taint(pod: Obj, node: Obj) -> Obj | None:
    tolerations = pod["spec"].get("tolerations") or []
    for taint in node.get("spec", {}).get("taints") or []:
        if taint.get("effect") not in BLOCKING_EFFECTS:
            continue
        if not any(tolerates(t, taint) for t in tolerations):
            return dict(taint)
    return None


def _requirement(labels: dict[str, str], requirement: Obj) -> bool:
    key, operator = requirement["key"], requirement["operator"]
    values = requirement.get("values") or []
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":
        return key not in labels or labels[key] not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    if operator in ("Gt", "Lt") and key in labels and len(values) == 1:
        try:
            have, bound = int(labels[key]), int(values[0])
        except ValueError:
            return False
        return have > bound if operator == "Gt" else have < bound
    return False


def _term(node: Obj, term: Obj) -> bool:
    """A node selector term; an empty one selects nothing."""
    expressions = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not expressions and not fields:
        return False
    labels = node["metadata"].get("labels") or {}
    own = {"metadata.name": node["metadata"]["name"]}
    return all(_requirement(labels, e) for e in expressions) and all(
        _requirement(own, f) for f in fields
    )


def matches_affinity(pod: Obj, node: Obj) -> bool:
    spec = pod["spec"]
    labels = node["metadata"].get("labels") or {}
    selector = spec.get("nodeSelector") or {}
    if any(labels.get(k) != v for k, v in selector.items()):
        return False
    required = (
        (spec.get("affinity") or {})
        .get("nodeAffinity", {})
        .get("requiredDuringSchedulingIgnoredDuringExecution")
    )
    if required is None:
        return True
    return any(_term(node, term) for term in required.get("nodeSelectorTerms") or [])


def node_problem(pod: Obj, node: Obj) -> str | None:
    """The first failing Filter's reason for `node`, or None when the Pod fits."""
    if node.get("spec", {}).get("unschedulable"):
        cordon = {"key": UNSCHEDULABLE_TAINT, "effect": "NoSchedule"}
        if not any(tolerates(t, cordon) for t in pod["spec"].get("tolerations") or []):
            return REASON_UNSCHEDULABLE
    taint = untolerated_taint(pod, node)
    if taint is not None:
        return f"node(s) had untolerated taint {{{taint['key']}: {taint.get('value', '')}}}"
    if not matches_affinity(pod, node):
        return REASON_AFFINITY
    return None


def _preemption(pod: Obj) -> str:
    if pod["spec"].get("preemptionPolicy") == "Never":
        return "preemption: not eligible due to preemptionPolicy=Never."
    return "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."


def unschedulable_message(pod: Obj, node: Obj, claims: dict[str, Obj]) -> str | None:
    """The FitError message when the Pod does not fit the cluster's one `node`, else None."""
    problem = claim_problem(pod, claims)
    if problem is None:
        reason = node_problem(pod, node)
        if reason is None:
            return None
        problem = f"1 {reason}"
    return f"0/1 nodes are available: {problem}. {_preemption(pod)}"
