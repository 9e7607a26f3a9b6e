"""The agent's settings."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse


@dataclass(frozen=True)
class AgentConfig:
    """What tests/cluster/up writes to DIR/agent.json."""

    node_name: str
    server: str
    ca: str
    node_cert: str
    node_key: str
    scheduler_cert: str
    scheduler_key: str
    provisioner_cert: str
    provisioner_key: str
    provisioner_name: str
    serving_cert: str
    serving_key: str
    kubelet_port: int
    state_dir: str
    tmpfs_dir: str

    @classmethod
    def load(cls, path: Path) -> AgentConfig:
        return cls(**json.loads(path.read_text()))

    @property
    def apiserver_port(self) -> int:
        return urlparse(self.server).port or 443

    @property
    def pods_dir(self) -> Path:
        return Path(self.state_dir) / "pods"

    @property
    def claims_dir(self) -> Path:
        return Path(self.state_dir) / "claims"
