"""Names and labels of what the operator creates: deterministic, bounded, greppable."""

import hashlib

from headwater.api import API_VERSION, Run

RUN_LABEL = "headwater.dev/run"
NODE_LABEL = "headwater.dev/node"
DATAFLOW_LABEL = "headwater.dev/dataflow"
COMPONENT_LABEL = "app.kubernetes.io/component"
TASK_ANNOTATION = "headwater.dev/task"
MANAGER = "headwater-operator"
CONTAINER = "node"
"""The one container of a node's Pod."""
MAX_NAME = 63


def bounded(*parts: str, limit: int = MAX_NAME) -> str:
    """`a-b` within `limit` characters, always with a hash suffix so that two different
    (run, node) pairs whose joined text is equal (run a-b node c, run a node b-c) still
    get different names."""
    digest = hashlib.sha256("/".join(parts).encode()).hexdigest()[:6]
    head = "-".join(parts)[: limit - len(digest) - 1].rstrip("-.")
    return f"{head}-{digest}"


def label_value(name: str) -> str:
    """A name as a label value, which is at most 63 characters: a Dataflow's name may
    have up to 253."""
    return name if len(name) <= MAX_NAME else bounded(name)


def job_name(run: str, node: str) -> str:
    """The one Job of a node of a run: created again after a crash, it collides instead of
    doubling."""
    return bounded(run, node)


def snapshot_name(run: str) -> str:
    return bounded(run, "snapshot", limit=253)


def labels(run: Run, node: str | None = None, component: str = "node") -> dict[str, str]:
    found = {
        "app.kubernetes.io/name": "headwater",
        COMPONENT_LABEL: component,
        "app.kubernetes.io/part-of": "headwater",
        "app.kubernetes.io/managed-by": MANAGER,
        RUN_LABEL: run.metadata.name,
        DATAFLOW_LABEL: label_value(run.spec.dataflow),
    }
    if node is not None:
        found[NODE_LABEL] = node
    return found


def owner_reference(run: Run) -> dict[str, object]:
    """Makes the Run own an object: deleting the Run deletes it."""
    return {
        "apiVersion": API_VERSION,
        "kind": "Run",
        "name": run.metadata.name,
        "uid": run.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }
