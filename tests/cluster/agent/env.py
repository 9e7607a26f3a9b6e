"""Container environment: fixed variables, envFrom, env with valueFrom, $(VAR) expansion."""

from __future__ import annotations

import base64
import os
import re
import sys
from typing import Any

from .api import Api, ApiError, Obj

STANDARD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes `$(VAR)` expansion: `$$` escapes, unknown references stay as written."""

    def sub(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env.get(name, match.group(0))

    return _REF.sub(sub, text)


def base_env(pod: Obj, apiserver_port: int, marker: dict[str, str]) -> dict[str, str]:
    """Variables every container gets: PATH with this interpreter first, the API server."""
    python_bin = os.path.dirname(sys.executable)
    port = str(apiserver_port)
    return {
        "PATH": f"{python_bin}:{STANDARD_PATH}",
        "HOME": os.environ.get("HOME", "/root"),
        "HOSTNAME": pod["metadata"]["name"],
        "KUBERNETES_SERVICE_HOST": "127.0.0.1",
        "KUBERNETES_SERVICE_PORT": port,
        "KUBERNETES_SERVICE_PORT_HTTPS": port,
        "KUBERNETES_PORT": f"tcp://127.0.0.1:{port}",
        **marker,
    }


def field_value(pod: Obj, path: str) -> str:
    """Resolve a downward-API fieldRef path against the Pod."""
    meta, spec = pod["metadata"], pod["spec"]
    match = re.fullmatch(r"metadata\.(labels|annotations)\['(.+)'\]", path)
    if match:
        return str(meta.get(match.group(1), {}).get(match.group(2), ""))
    if path in ("metadata.labels", "metadata.annotations"):
        items = meta.get(path.split(".")[1], {})
        return "\n".join(f'{k}="{v}"' for k, v in sorted(items.items()))
    simple: dict[str, Any] = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.podIP": "127.0.0.1",
        "status.podIPs": "127.0.0.1",
        "status.hostIP": "127.0.0.1",
        "status.hostIPs": "127.0.0.1",
    }
    if path not in simple:
        raise ValueError(f"unsupported fieldRef {path}")
    return str(simple[path] or "")


def resource_value(container: Obj, ref: Obj) -> str:
    """A resourceFieldRef: the container's own limit/request, else a generous default."""
    kind, _, name = ref["resource"].partition(".")
    value = container.get("resources", {}).get(kind, {}).get(name)
    if value is None:
        return str(os.cpu_count() or 1) if name == "cpu" else str(8 * 1024**3)
    return str(value)


KIND_NAMES = {"configmap": "ConfigMap", "secret": "Secret"}


def not_found(kind: str, name: str) -> str:
    """The API's NotFound message, as the kubelet passes it on."""
    return f'{kind} "{name}" not found'


class Lookup:
    """Fetches ConfigMaps and Secrets of one namespace, once each.

    Errors read as the kubelet's: `configmap "x" not found` (its NotFound error) and
    `couldn't find key k in ConfigMap ns/x`.
    """

    def __init__(self, api: Api, namespace: str) -> None:
        self.api = api
        self.namespace = namespace
        self._cache: dict[tuple[str, str], Obj | None] = {}

    async def _get(self, kind: str, name: str) -> Obj | None:
        key = (kind, name)
        if key not in self._cache:
            resource = "configmaps" if kind == "configmap" else "secrets"
            try:
                self._cache[key] = await self.api.get(
                    f"/api/v1/namespaces/{self.namespace}/{resource}/{name}"
                )
            except ApiError as err:
                if err.status != 404:
                    raise
                self._cache[key] = None
        return self._cache[key]

    async def data(self, kind: str, name: str, binary: bool = True) -> dict[str, bytes] | None:
        """Decoded data of configmap/secret `name`, or None when it does not exist.

        Environment variables come from a ConfigMap's `data` only (`binary=False`), as
        in the kubelet; volumes get `binaryData` too.
        """
        obj = await self._get(kind, name)
        if obj is None:
            return None
        if kind == "secret":
            return {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
        found = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
        if binary:
            found |= {k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()}
        return found

    async def required(self, kind: str, ref: Obj, binary: bool = True) -> dict[str, bytes] | None:
        """`data`, raising the kubelet's NotFound message unless the ref is optional."""
        data = await self.data(kind, ref["name"], binary)
        if data is None and not ref.get("optional"):
            raise LookupError(not_found(kind, ref["name"]))
        return data

    async def key(self, kind: str, ref: Obj) -> str | None:
        data = await self.required(kind, ref, binary=False)
        if data is None:
            return None
        if ref["key"] not in data:
            if ref.get("optional"):
                return None
            where = f"{self.namespace}/{ref['name']}"
            raise LookupError(f"couldn't find key {ref['key']} in {KIND_NAMES[kind]} {where}")
        return data[ref["key"]].decode(errors="replace")


async def container_env(
    pod: Obj, container: Obj, base: dict[str, str], lookup: Lookup
) -> dict[str, str]:
    """The full environment of `container`, as the kubelet would compute it."""
    env = dict(base)
    for source in container.get("envFrom", []):
        prefix = source.get("prefix", "")
        kind, ref = (
            ("configmap", source["configMapRef"])
            if "configMapRef" in source
            else ("secret", source["secretRef"])
        )
        data = await lookup.required(kind, ref, binary=False)
        if data is None:
            continue
        env |= {prefix + k: v.decode(errors="replace") for k, v in data.items()}
    for var in container.get("env", []):
        name, source = var["name"], var.get("valueFrom")
        if source is None:
            env[name] = expand(var.get("value", ""), env)
        elif "fieldRef" in source:
            env[name] = field_value(pod, source["fieldRef"]["fieldPath"])
        elif "resourceFieldRef" in source:
            env[name] = resource_value(container, source["resourceFieldRef"])
        elif "configMapKeyRef" in source:
            value = await lookup.key("configmap", source["configMapKeyRef"])
            if value is not None:
                env[name] = value
        elif "secretKeyRef" in source:
            value = await lookup.key("secret", source["secretKeyRef"])
            if value is not None:
                env[name] = value
    return env
