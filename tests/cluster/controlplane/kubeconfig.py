"""Kubeconfig files for client-certificate identities."""

from __future__ import annotations

from pathlib import Path

import yaml

from .certs import Pair


def write_kubeconfig(path: Path, server: str, ca: Path, identity: Pair, user: str) -> Path:
    """Write a kubeconfig that talks to `server` as the holder of `identity`."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "headwater", "cluster": {"server": server, "certificate-authority": str(ca)}}
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate": str(identity.cert),
                    "client-key": str(identity.key),
                },
            }
        ],
        "contexts": [{"name": "headwater", "context": {"cluster": "headwater", "user": user}}],
        "current-context": "headwater",
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)
    return path
