"""A dynamic provisioner for the cluster's default StorageClass, like kind's and minikube's.

It follows the external-provisioner protocol: kube-controller-manager's PV controller
marks a claim of a class it cannot serve itself with the
`volume.kubernetes.io/storage-provisioner` annotation; this provisioner then creates a
hostPath PersistentVolume pre-bound to the claim (`claimRef`), which the PV controller
binds. The volume is the claim's directory `claims/<namespace>/<claim>`, the path the
tests read results from. One node means ReadWriteMany cannot be honoured: such a claim
stays Pending with a `ProvisioningFailed` Event, exactly as on kind, minikube and k3d.

Reclaim Delete: once the PV controller marks the PV Released (its claim is gone), the
directory and then the PV are deleted, so a new claim of the same name starts empty
(an old PV not reclaimed yet is reclaimed first). A directory that exists when a claim
is provisioned, with no volume holding it, is adopted as it is: tests may put inputs
there before the claim is made.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

from .api import Api, ApiError, Obj
from .config import AgentConfig
from .events import EventRecorder, reference

log = logging.getLogger(__name__)

PROVISIONER_ANNOTATIONS = (
    "volume.kubernetes.io/storage-provisioner",
    "volume.beta.kubernetes.io/storage-provisioner",
)
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
ACCESS_MODES = ("ReadWriteOnce", "ReadOnlyMany", "ReadWriteOncePod")


def requested_from(claim: Obj, provisioner: str) -> bool:
    annotations = claim["metadata"].get("annotations") or {}
    return any(annotations.get(a) == provisioner for a in PROVISIONER_ANNOTATIONS)


def unsupported(claim: Obj) -> str | None:
    """Why this provisioner cannot serve `claim`, or None."""
    spec = claim["spec"]
    modes = [m for m in spec.get("accessModes") or [] if m not in ACCESS_MODES]
    if modes:
        return (
            f"access mode {', '.join(modes)} is not supported: this single-node hostpath "
            f"provisioner serves only {', '.join(ACCESS_MODES)}"
        )
    if spec.get("volumeMode", "Filesystem") != "Filesystem":
        return f"volumeMode {spec['volumeMode']} is not supported"
    if spec.get("selector"):
        return "claim Selector is not supported"
    return None


def volume_for(claim: Obj, storage_class: Obj, path: Path) -> Obj:
    """The PV for `claim`, pre-bound to it so the PV controller binds the pair."""
    meta, spec = claim["metadata"], claim["spec"]
    pv_spec: Obj = {
        "capacity": {"storage": spec["resources"]["requests"]["storage"]},
        "accessModes": spec["accessModes"],
        "persistentVolumeReclaimPolicy": storage_class.get("reclaimPolicy", "Delete"),
        "storageClassName": storage_class["metadata"]["name"],
        "volumeMode": "Filesystem",
        "claimRef": {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "namespace": meta["namespace"],
            "name": meta["name"],
            "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"],
        },
        "hostPath": {"path": str(path), "type": "DirectoryOrCreate"},
    }
    if storage_class.get("mountOptions"):
        pv_spec["mountOptions"] = storage_class["mountOptions"]
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": f"pvc-{meta['uid']}",
            "annotations": {PROVISIONED_BY: storage_class["provisioner"]},
        },
        "spec": pv_spec,
    }


class Provisioner:
    """Watches claims and volumes; provisions and reclaims this provisioner's PVs."""

    def __init__(self, api: Api, config: AgentConfig) -> None:
        self.api = api
        self.name = config.provisioner_name
        self.claims_dir = config.claims_dir
        # The component name external provisioners report: <provisioner>_<host>.
        component = f"{self.name}_{config.node_name}"
        self.events = EventRecorder(api, component, config.node_name)
        self.volumes: dict[str, Obj] = {}
        self._lock = asyncio.Lock()
        self._listed = asyncio.Event()

    async def run(self) -> None:
        volumes = asyncio.create_task(
            self.api.list_watch("/api/v1/persistentvolumes", {}, self._volumes_listed, self._volume)
        )
        try:
            # Claims only once the volumes are known, so none is provisioned twice.
            await self._listed.wait()
            await self.api.list_watch(
                "/api/v1/persistentvolumeclaims", {}, self._claims_listed, self._claim
            )
        finally:
            volumes.cancel()

    def path(self, namespace: str, name: str) -> Path:
        return self.claims_dir / namespace / name

    # --- provisioning ------------------------------------------------------------------

    async def _claims_listed(self, claims: list[Obj]) -> None:
        for claim in claims:
            await self._claim("ADDED", claim)

    async def _claim(self, kind: str, claim: Obj) -> None:
        meta = claim["metadata"]
        wanted = (
            kind != "DELETED"
            and requested_from(claim, self.name)
            and not claim["spec"].get("volumeName")
            and not meta.get("deletionTimestamp")
            and f"pvc-{meta['uid']}" not in self.volumes
        )
        if not wanted:
            return
        async with self._lock:
            try:
                await self._provision(claim)
            except ApiError as err:
                log.warning("provisioning %s/%s failed: %s", meta["namespace"], meta["name"], err)

    async def _provision(self, claim: Obj) -> None:
        meta = claim["metadata"]
        class_name = claim["spec"].get("storageClassName", "")
        ref = reference(claim)
        claim_key = f"{meta['namespace']}/{meta['name']}"
        message = f'External provisioner is provisioning volume for claim "{claim_key}"'
        await self.events.emit(ref, "Normal", "Provisioning", message)
        problem = unsupported(claim)
        if problem is not None:
            failed = f'failed to provision volume with StorageClass "{class_name}": {problem}'
            await self.events.emit(ref, "Warning", "ProvisioningFailed", failed)
            return
        storage_class = await self.api.get(f"/apis/storage.k8s.io/v1/storageclasses/{class_name}")
        path = self.path(meta["namespace"], meta["name"])
        for stale in self._holding(path):
            if stale["spec"].get("persistentVolumeReclaimPolicy") == "Delete":
                await self._reclaim(stale)
        path.mkdir(parents=True, exist_ok=True)  # a directory made beforehand is adopted
        volume = volume_for(claim, storage_class, path)
        try:
            created = await self.api.post("/api/v1/persistentvolumes", volume)
        except ApiError as err:
            if err.status != 409:
                raise
            return
        self.volumes[created["metadata"]["name"]] = created
        succeeded = f"Successfully provisioned volume {volume['metadata']['name']}"
        await self.events.emit(ref, "Normal", "ProvisioningSucceeded", succeeded)

    def _holding(self, path: Path) -> list[Obj]:
        """This provisioner's volumes whose directory is `path`."""
        return [v for v in self.volumes.values() if v["spec"]["hostPath"]["path"] == str(path)]

    # --- reclaiming --------------------------------------------------------------------

    async def _volumes_listed(self, volumes: list[Obj]) -> None:
        self.volumes = {}
        for volume in volumes:
            await self._volume("ADDED", volume)
        self._listed.set()

    async def _volume(self, kind: str, volume: Obj) -> None:
        name = volume["metadata"]["name"]
        annotations = volume["metadata"].get("annotations") or {}
        if annotations.get(PROVISIONED_BY) != self.name:
            return
        if kind == "DELETED" or volume["metadata"].get("deletionTimestamp"):
            self.volumes.pop(name, None)  # a volume being deleted holds nothing any more
            return
        self.volumes[name] = volume
        released = volume.get("status", {}).get("phase") in ("Released", "Failed")
        if released and volume["spec"].get("persistentVolumeReclaimPolicy") == "Delete":
            async with self._lock:
                await self._reclaim(volume)

    async def _reclaim(self, volume: Obj) -> None:
        """Delete a volume's directory, then the PV, unless its claim still exists."""
        name = volume["metadata"]["name"]
        if name not in self.volumes or await self._claim_exists(volume["spec"].get("claimRef")):
            return
        path = Path(volume["spec"]["hostPath"]["path"])
        if all(v["metadata"]["name"] == name for v in self._holding(path)):
            shutil.rmtree(path, ignore_errors=True)
        try:
            await self.api.delete(f"/api/v1/persistentvolumes/{name}")
        except ApiError as err:
            if err.status != 404:
                raise
        self.volumes.pop(name, None)

    async def _claim_exists(self, ref: Obj | None) -> bool:
        if not ref:
            return False
        path = f"/api/v1/namespaces/{ref['namespace']}/persistentvolumeclaims/{ref['name']}"
        try:
            claim = await self.api.get(path)
        except ApiError as err:
            if err.status == 404:
                return False
            raise
        return bool(claim["metadata"]["uid"] == ref.get("uid"))
