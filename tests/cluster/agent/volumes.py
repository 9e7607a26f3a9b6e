"""Materialise a Pod's volumes as host directories, later bind-mounted by the sandbox."""

from __future__ import annotations

import shutil
from pathlib import Path

from .api import Api, ApiError, Obj
from .env import Lookup, field_value

TOKEN_SECONDS = 3607


class VolumeError(Exception):
    """A volume could not be set up (yet); the message is the volume plugin's."""


class MountFailed(Exception):
    """Setting up volume `volume` failed; str() is the kubelet's FailedMount message."""

    def __init__(self, volume: str, cause: Exception) -> None:
        super().__init__(f'MountVolume.SetUp failed for volume "{volume}" : {cause}')
        self.volume = volume


def _write_files(directory: Path, files: dict[str, tuple[bytes, int]]) -> None:
    for rel, (content, mode) in files.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        path.chmod(mode)


MISSING_KEY = {
    "configmap": "configmap references non-existent config key: {}",
    "secret": "references non-existent secret key: {}",
}


def _select(
    kind: str, data: dict[str, bytes], source: Obj, default_mode: int
) -> dict[str, tuple[bytes, int]]:
    items = source.get("items")
    if not items:
        return {k: (v, default_mode) for k, v in data.items()}
    chosen = {}
    for item in items:
        if item["key"] not in data:
            if source.get("optional"):
                continue
            raise VolumeError(MISSING_KEY[kind].format(item["key"]))
        chosen[item["path"]] = (data[item["key"]], item.get("mode", default_mode))
    return chosen


class VolumeBuilder:
    """Builds every volume of one Pod under `pod_dir/volumes`."""

    def __init__(self, api: Api, pod: Obj, pod_dir: Path, memory_dir: Path, ca_file: str) -> None:
        self.api = api
        self.pod = pod
        self.namespace = pod["metadata"]["namespace"]
        self.pod_dir = pod_dir
        self.memory_dir = memory_dir
        self.ca_file = ca_file
        self.lookup = Lookup(api, self.namespace)

    async def build(self) -> dict[str, Path]:
        """Create all volumes; return volume name -> host path."""
        paths = {}
        for volume in self.pod["spec"].get("volumes", []):
            try:
                paths[volume["name"]] = await self._one(volume)
            except (VolumeError, LookupError) as err:
                raise MountFailed(volume["name"], err) from err
        return paths

    async def _one(self, volume: Obj) -> Path:
        name = volume["name"]
        target = self.pod_dir / "volumes" / name
        if "emptyDir" in volume:
            if volume["emptyDir"].get("medium") == "Memory":
                target = self.memory_dir / name
            target.mkdir(parents=True, exist_ok=True)
            return target
        if "persistentVolumeClaim" in volume:
            return await self._claim(volume["persistentVolumeClaim"]["claimName"])
        if "ephemeral" in volume:
            return await self._claim(f"{self.pod['metadata']['name']}-{name}")
        if "hostPath" in volume:
            return _host_path(volume["hostPath"])
        files: dict[str, tuple[bytes, int]] = {}
        if "configMap" in volume:
            files = await self._keyed("configmap", volume["configMap"])
        elif "secret" in volume:
            source = dict(volume["secret"], name=volume["secret"]["secretName"])
            files = await self._keyed("secret", source)
        elif "downwardAPI" in volume:
            files = self._downward(volume["downwardAPI"])
        elif "projected" in volume:
            files = await self._projected(volume["projected"])
        else:
            kinds = sorted(set(volume) - {"name"})
            raise VolumeError(f"unsupported volume type {kinds} on the headwater test node")
        # Rebuild atomically enough for tests: fresh directory each time.
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        _write_files(target, files)
        return target

    async def _keyed(
        self, kind: str, source: Obj, default_mode: int | None = None
    ) -> dict[str, tuple[bytes, int]]:
        mode = source.get("defaultMode", default_mode if default_mode is not None else 0o644)
        data = await self.lookup.required(kind, source)
        return {} if data is None else _select(kind, data, source, mode)

    async def _claim(self, claim_name: str) -> Path:
        """A claim's volume: the PersistentVolume it is bound to, as the kubelet resolves it."""
        base = f"/api/v1/namespaces/{self.namespace}/persistentvolumeclaims/{claim_name}"
        try:
            claim = await self.api.get(base)
            if claim.get("status", {}).get("phase") != "Bound":
                raise VolumeError("PVC is not bound")
            if not claim["spec"].get("volumeName"):
                raise VolumeError("PVC has empty pvc.Spec.VolumeName")
            volume = await self.api.get(f"/api/v1/persistentvolumes/{claim['spec']['volumeName']}")
        except (ApiError, VolumeError) as err:
            message = f"error processing PVC {self.namespace}/{claim_name}: {err}"
            raise VolumeError(message) from err
        if "hostPath" not in volume["spec"]:
            name = volume["metadata"]["name"]
            raise VolumeError(f"{name}: only hostPath volumes are supported on the test node")
        return _host_path(volume["spec"]["hostPath"])

    def _downward(self, source: Obj, default_mode: int = 0o644) -> dict[str, tuple[bytes, int]]:
        mode = source.get("defaultMode", default_mode)
        files = {}
        for item in source.get("items", []):
            if "fieldRef" not in item:
                raise VolumeError("downwardAPI resourceFieldRef volumes are not supported")
            value = field_value(self.pod, item["fieldRef"]["fieldPath"])
            files[item["path"]] = (value.encode(), item.get("mode", mode))
        return files

    async def _projected(self, projected: Obj) -> dict[str, tuple[bytes, int]]:
        mode = projected.get("defaultMode", 0o644)
        files: dict[str, tuple[bytes, int]] = {}
        for source in projected.get("sources", []):
            if "serviceAccountToken" in source:
                token_source = source["serviceAccountToken"]
                token = await self._token(token_source)
                files[token_source["path"]] = (token.encode(), mode)
            elif "configMap" in source:
                files |= await self._keyed("configmap", source["configMap"], mode)
            elif "secret" in source:
                files |= await self._keyed("secret", source["secret"], mode)
            elif "downwardAPI" in source:
                files |= self._downward(source["downwardAPI"], mode)
            else:
                raise VolumeError(f"unsupported projected source {sorted(source)}")
        return files

    async def _token(self, source: Obj) -> str:
        meta = self.pod["metadata"]
        account = self.pod["spec"].get("serviceAccountName") or "default"
        spec: Obj = {
            "expirationSeconds": source.get("expirationSeconds", TOKEN_SECONDS),
            "boundObjectRef": {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": meta["name"],
                "uid": meta["uid"],
            },
        }
        if source.get("audience"):
            spec["audiences"] = [source["audience"]]
        answer = await self.api.post(
            f"/api/v1/namespaces/{self.namespace}/serviceaccounts/{account}/token",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec},
        )
        return str(answer["status"]["token"])


def _host_path(source: Obj) -> Path:
    path = Path(source["path"])
    if source.get("type") == "DirectoryOrCreate":
        path.mkdir(parents=True, exist_ok=True)
    return path


def remove_pod_volumes(pod_dir: Path, memory_dir: Path) -> None:
    """Delete a Pod's non-persistent volumes (claims stay)."""
    shutil.rmtree(pod_dir / "volumes", ignore_errors=True)
    shutil.rmtree(memory_dir, ignore_errors=True)
