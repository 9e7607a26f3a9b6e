"""A node's Job, built by a pure function from the Run, the node and the snapshot.
Nothing here talks to the API server."""

import json
from typing import Any

from headwater.api import EnvVar, FunctionSpec, Run
from headwater.controller.naming import (
    CONTAINER,
    TASK_ANNOTATION,
    bounded,
    job_name,
    labels,
    owner_reference,
    snapshot_name,
)
from headwater.controller.settings import STORE_MOUNT_PATH, OperatorSettings
from headwater.runner.errors import EXIT_BAD_INPUT
from headwater.snapshot import Snapshot
from headwater.task import Task

TASK_DIR = "/etc/headwater/task"
CODE_DIR = "/etc/headwater/code"
DATASETS_DIR = "/var/run/headwater/datasets"
TERMINATION_LOG = "/dev/termination-log"
NON_ROOT_USER = 65532

Manifest = dict[str, Any]


MAX_KEY = 253
"""The longest ConfigMap key."""


# What every Pod headwater makes shares (node Jobs here, transfer Jobs in
# headwater.transfer): the restricted Pod Security Standard, and the ways into the store.

SCRATCH_VOLUME: Manifest = {"name": "tmp", "emptyDir": {}}
SCRATCH_MOUNT: Manifest = {"name": "tmp", "mountPath": "/tmp"}
"""The root filesystem is read-only; scratch space is an emptyDir at /tmp."""


def restricted_container_security() -> Manifest:
    return {
        "runAsNonRoot": True,
        "runAsUser": NON_ROOT_USER,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def restricted_pod_spec(containers: list[Manifest], volumes: list[Manifest]) -> Manifest:
    """A Pod that runs once, as uid 65532 under seccomp RuntimeDefault, with no
    service-account token and no service links: what the restricted standard asks."""
    return {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": NON_ROOT_USER,
            "runAsGroup": NON_ROOT_USER,
            "fsGroup": NON_ROOT_USER,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": containers,
        "volumes": volumes,
    }


def store_claim(claim: str, mount_path: str) -> tuple[Manifest, Manifest]:
    """The volume and mount of a namespace's store claim."""
    return (
        {"name": "store", "persistentVolumeClaim": {"claimName": claim}},
        {"name": "store", "mountPath": mount_path},
    )


def store_env_from(secret: str) -> list[Manifest]:
    """The object store's credentials: every key of the namespace's Secret."""
    return [{"secretRef": {"name": secret}}]


def code_key(function: str) -> str:
    """The key of a Function's source in the Run's snapshot ConfigMap (a Function's name
    may itself be 253 characters long)."""
    key = f"code.{function}.py"
    if len(key) <= MAX_KEY:
        return key
    return f"code.{bounded(function, limit=MAX_KEY - len('code..py'))}.py"


def dataset_mount(dataset: str, key: str) -> str:
    """Where a Job sees a ConfigMap or Secret dataset's key."""
    return f"{DATASETS_DIR}/{dataset}/{key}"


def job_manifest(
    run: Run,
    node: str,
    function_name: str,
    task: Task,
    snapshot: Snapshot,
    settings: OperatorSettings,
    deadline_seconds: int | None,
) -> Manifest:
    """The Job that runs one node: restricted, owned by the Run, retried by Kubernetes."""
    function = snapshot.functions[function_name]
    if function.code.module is None:
        task = task.model_copy(
            update={"code": None, "code_file": f"{CODE_DIR}/{code_key(function_name)}"}
        )
    task = task.model_copy(update={"result_path": TERMINATION_LOG})
    volumes, mounts = _volumes(run, function_name, function, snapshot, settings)
    pod_labels = labels(run, node)
    container: Manifest = {
        "name": CONTAINER,
        "image": function.image or snapshot.dataflow.image or settings.runner_image,
        "command": ["python", "-m", "headwater.runner", f"{TASK_DIR}/task.json"],
        "env": _env(run, node, function),
        "resources": _resources(function, settings),
        "volumeMounts": mounts,
        "terminationMessagePath": TERMINATION_LOG,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "securityContext": restricted_container_security(),
    }
    secret = settings.store.credentials_secret if settings.store.url else None
    if secret:
        container["envFrom"] = store_env_from(secret)
    spec: Manifest = {
        "backoffLimit": run.spec.retries,
        "podFailurePolicy": {
            "rules": [
                {
                    "action": "FailJob",
                    "onExitCodes": {
                        "containerName": CONTAINER,
                        "operator": "In",
                        "values": [EXIT_BAD_INPUT],
                    },
                },
                {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
            ]
        },
        "template": {
            "metadata": {
                "labels": pod_labels,
                "annotations": {TASK_ANNOTATION: json.dumps(task.to_wire(), sort_keys=True)},
            },
            "spec": restricted_pod_spec([container], volumes),
        },
    }
    if deadline_seconds is not None:
        spec["activeDeadlineSeconds"] = max(1, deadline_seconds)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(run.metadata.name, node),
            "namespace": run.metadata.namespace,
            "labels": pod_labels,
            "ownerReferences": [owner_reference(run)],
        },
        "spec": spec,
    }


def _env(run: Run, node: str, function: FunctionSpec) -> list[Manifest]:
    ours = [
        EnvVar(name="HEADWATER_RUN", value=run.metadata.name),
        EnvVar(name="HEADWATER_NODE", value=node),
        # The root filesystem is read-only; scratch space is the emptyDir at /tmp.
        EnvVar(name="TMPDIR", value="/tmp"),
        EnvVar(name="HOME", value="/tmp"),
    ]
    return [v.to_wire() for v in [*ours, *function.env, *run.spec.env]]


def _resources(function: FunctionSpec, settings: OperatorSettings) -> Manifest:
    if function.resources is not None:
        return function.resources.to_wire()
    return {"requests": dict(settings.default_requests)}


def _volumes(
    run: Run,
    function_name: str,
    function: FunctionSpec,
    snapshot: Snapshot,
    settings: OperatorSettings,
) -> tuple[list[Manifest], list[Manifest]]:
    volumes: list[Manifest] = [
        {
            "name": "task",
            "downwardAPI": {
                "items": [
                    {
                        "path": "task.json",
                        "fieldRef": {"fieldPath": f"metadata.annotations['{TASK_ANNOTATION}']"},
                    }
                ]
            },
        },
        SCRATCH_VOLUME,
    ]
    mounts: list[Manifest] = [
        {"name": "task", "mountPath": TASK_DIR, "readOnly": True},
        SCRATCH_MOUNT,
    ]
    if function.code.module is None:
        key = code_key(function_name)
        volumes.append(
            {
                "name": "code",
                "configMap": {
                    "name": snapshot_name(run.metadata.name),
                    "items": [{"key": key, "path": key}],
                },
            }
        )
        mounts.append({"name": "code", "mountPath": CODE_DIR, "readOnly": True})
    if settings.store.url is None:
        volume, mount = store_claim(settings.store.pvc_name, STORE_MOUNT_PATH)
        volumes.append(volume)
        mounts.append(mount)
    for index, (name, dataset) in enumerate(sorted(snapshot.datasets.items())):
        ref = dataset.config_map_key_ref or dataset.secret_key_ref
        if ref is None:
            continue
        volume = f"dataset-{index}"
        items = [{"key": ref.key, "path": ref.key}]
        source = (
            {"configMap": {"name": ref.name, "items": items}}
            if dataset.config_map_key_ref
            else {"secret": {"secretName": ref.name, "items": items}}
        )
        volumes.append({"name": volume, **source})
        mounts.append({"name": volume, "mountPath": f"{DATASETS_DIR}/{name}", "readOnly": True})
    return volumes, mounts
