"""The cluster's default StorageClass and the RBAC of the agent's provisioner.

Like kind and minikube, the cluster ships one default class, `standard`, served by the
node agent (agent/provisioner.py). The DefaultStorageClass admission plugin, on by
default in kube-apiserver, gives it to claims that name no class.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import Any

from .certs import PROVISIONER_USER

STORAGE_CLASS = "standard"
PROVISIONER = "headwater.dev/hostpath"  # agent/provisioner.py serves this name

OBJECTS: tuple[tuple[str, dict[str, Any]], ...] = (
    (
        "/apis/storage.k8s.io/v1/storageclasses",
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {
                "name": STORAGE_CLASS,
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": PROVISIONER,
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "Immediate",
        },
    ),
    (
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "headwater:provisioner"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:persistent-volume-provisioner",
            },
            "subjects": [
                {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": PROVISIONER_USER}
            ],
        },
    ),
)


def install_storage(server: str, ctx: ssl.SSLContext) -> None:
    """Create the StorageClass and the provisioner's ClusterRoleBinding (as admin)."""
    for path, obj in OBJECTS:
        request = urllib.request.Request(
            server + path,
            data=json.dumps(obj).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, context=ctx, timeout=10):
                pass
        except urllib.error.HTTPError as err:
            if err.code != 409:
                raise
