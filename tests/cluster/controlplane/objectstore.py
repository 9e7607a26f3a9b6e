"""SeaweedFS as the cluster's S3 object store: credentials, the `weed server` process,
and the `headwater` bucket, so that `--store-url s3://headwater/...` meets a real store."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypedDict

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .layout import SEAWEEDFS_SERVICES, ClusterState
from .procs import spawn

BUCKET = "headwater"
# SeaweedFS checks signatures but serves every region; this is botocore's default.
REGION = "us-east-1"
# Volumes are sparse files on tmpfs: 64 MiB each and at most 64 of them bound what a
# cluster can hold (4 GiB of RAM). Each bucket is a collection that grows two volumes
# at a time (SeaweedFS's default is 7), so many buckets still fit.
VOLUME_SIZE_LIMIT_MB = 64
MAX_VOLUMES = 64
VOLUMES_PER_GROWTH = 2
PROBE_KEY = ".headwater-up-probe"


class S3Settings(TypedDict):
    """DIR/s3.json, and `s3` in DIR/cluster.json: what an S3 client needs."""

    endpoint: str
    region: str
    accessKey: str
    secretKey: str
    bucket: str


def port_flags() -> list[str]:
    """The keys of ClusterState.seaweedfs_ports: each service's HTTP and gRPC port flag."""
    return [f"{service}.port{grpc}" for service in SEAWEEDFS_SERVICES for grpc in ("", ".grpc")]


def new_settings(s3_port: int) -> S3Settings:
    """Settings with a fresh key pair, so no two clusters share credentials."""
    return S3Settings(
        endpoint=f"http://127.0.0.1:{s3_port}",
        region=REGION,
        accessKey="HW" + secrets.token_hex(9).upper(),
        secretKey=secrets.token_urlsafe(30),
        bucket=BUCKET,
    )


def _write_private(path: Path, document: object) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(json.dumps(document, indent=2) + "\n")


def start_seaweedfs(state: ClusterState, cluster_dir: Path) -> None:
    """Spawn `weed server` (master, volume, filer and S3 in one process); returns at once."""
    s3 = state.s3
    _write_private(cluster_dir / "s3.json", s3)
    identities = cluster_dir / "seaweedfs-identities.json"
    _write_private(
        identities,
        {
            "identities": [
                {
                    "name": "headwater",
                    "credentials": [{"accessKey": s3["accessKey"], "secretKey": s3["secretKey"]}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        },
    )
    data = Path(state.seaweedfs_data)
    data.mkdir()
    ports = [f"-{flag}={port}" for flag, port in state.seaweedfs_ports.items()]
    env = dict(os.environ)
    # weed reads its .toml keys from WEED_-prefixed variables too.
    env["WEED_MASTER_VOLUME_GROWTH_COPY_1"] = str(VOLUMES_PER_GROWTH)
    # S3 has no folders, but the filer does: a prefix whose objects are all deleted
    # stays listed until its empty folder is removed (by default 2 minutes later).
    env["WEED_FILER_OPTIONS_S3_EMPTY_FOLDER_CLEANUP_DELAY"] = "1s"
    spawn(
        "seaweedfs",
        [
            f"{state.seaweedfs_bin_dir}/weed",
            "-logtostderr",  # otherwise it also writes log files into /tmp
            "server",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            # One master that bootstraps at once, instead of looking for peers.
            "-master.peers=none",
            f"-dir={data}",
            *ports,
            "-s3",
            f"-s3.config={identities}",
            # Listeners that would take fixed ports shared by every cluster.
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            # Unix sockets that would otherwise go to /tmp.
            f"-filer.localSocket={data}/filer.sock",
            f"-s3.localSocket={data}/s3.sock",
            f"-master.volumeSizeLimitMB={VOLUME_SIZE_LIMIT_MB}",
            f"-volume.max={MAX_VOLUMES}",
            # The volume server otherwise waits 10 s after SIGTERM before stopping.
            "-volume.preStopSeconds=0",
            "-master.telemetry=false",
        ],
        cluster_dir,
        env,
    )


def store_ready(state: ClusterState) -> Callable[[], bool]:
    """A check for `wait_until`: the bucket exists (created on the first call that
    can) and takes writes, which needs the S3 gateway, the filer, the master assigning
    a volume and the volume server."""
    s3 = state.s3
    client: Any = botocore.session.get_session().create_client(
        "s3",
        endpoint_url=s3["endpoint"],
        region_name=s3["region"],
        aws_access_key_id=s3["accessKey"],
        aws_secret_access_key=s3["secretKey"],
        config=Config(connect_timeout=1, read_timeout=5, retries={"max_attempts": 1}),
    )

    def ready() -> bool:
        try:
            with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
                client.create_bucket(Bucket=s3["bucket"])
            client.put_object(Bucket=s3["bucket"], Key=PROBE_KEY, Body=b"ok")
            client.delete_object(Bucket=s3["bucket"], Key=PROBE_KEY)
        except (BotoCoreError, ClientError):
            return False
        return True

    return ready
