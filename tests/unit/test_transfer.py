"""The pure parts of headwater.transfer, and its in-cluster side on a local folder (the
PVC as a transfer Job sees it): the Jobs and chunks it builds, what a Pod prints and
how it is read back, and how a push becomes a file in one piece or not at all. The
API calls are tested against the real control plane (tests/e2e/test_data_transfer.py)."""

import hashlib
import io
import itertools
import json
import os
import time
from pathlib import Path

import pytest

from headwater.artifacts import write_artifact
from headwater.artifacts.published import StoreInfo
from headwater.controller.jobs import restricted_container_security
from headwater.transfer import builders, wire
from headwater.transfer.access import store_relative
from headwater.transfer.discovery import s3_options
from headwater.transfer.errors import TransferFailed
from headwater.transfer.incluster import main as in_cluster
from headwater.transfer.landing import Landing
from headwater.transfer.model import Digest, digest_file
from headwater.transfer.storeops import STALE_SECONDS, commit, inspect, sweep_stale

PVC = StoreInfo(
    kind="pvc",
    claim="headwater-artifacts",
    claim_size="1Gi",
    claim_access_mode="ReadWriteOnce",
    mount_path="/var/lib/headwater/store",
    runner_image="ghcr.io/headwater-dev/headwater:0.1.0",
)
OBJECT = StoreInfo(
    kind="object",
    url="s3://bucket/prefix",
    credentials_secret="headwater-s3",
    mount_path="/var/lib/headwater/store",
    runner_image="ghcr.io/headwater-dev/headwater:0.1.0",
)
CONFIG_MAP_LIMIT = 1 << 20
"""What the API server lets a ConfigMap hold."""
KUBELET_LOG_ROTATION = 10 << 20
RUNTIME_LINE_PREFIX = 45
"""What a container runtime adds to each log line (timestamp, stream, tag)."""


def digest(data: bytes) -> Digest:
    return Digest(size=len(data), sha256=hashlib.sha256(data).hexdigest())


# --- builders -------------------------------------------------------------------------


@pytest.mark.parametrize("store", [PVC, OBJECT], ids=["pvc", "object"])
def test_a_transfer_job_is_restricted_and_opens_the_store_as_node_jobs_do(
    store: StoreInfo,
) -> None:
    job = builders.transfer_job(store, "team-a", "headwater-push-x", "abc", ["inspect"])
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == restricted_container_security()
    assert container["command"][:3] == ["python", "-m", "headwater.transfer"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts["/tmp"] == "tmp"
    claims = [v for v in pod["volumes"] if "persistentVolumeClaim" in v]
    if store.kind == "pvc":
        assert claims == [
            {"name": "store", "persistentVolumeClaim": {"claimName": "headwater-artifacts"}}
        ]
        assert mounts[store.mount_path] == "store"
        assert "envFrom" not in container
    else:
        assert claims == []
        assert container["envFrom"] == [{"secretRef": {"name": "headwater-s3"}}]
    spec = job["spec"]
    assert spec["ttlSecondsAfterFinished"] > 0 and spec["activeDeadlineSeconds"] > 0
    assert job["metadata"]["labels"][builders.TRANSFER_LABEL] == "abc"


def test_job_names_stay_short_enough_for_indexed_pod_hostnames() -> None:
    name = builders.job_name("pull", "d" * 253, "0123456789", "99")
    assert len(name) <= builders.NAME_LIMIT
    assert len(f"{name}-{100_000}") <= 63
    assert name != builders.job_name("pull", "d" * 253, "0123456789", "98")


def test_a_full_chunk_fits_a_configmap_and_a_batch_bounds_what_etcd_holds() -> None:
    owner = {"metadata": {"name": "j" * builders.NAME_LIMIT, "uid": "u"}}
    body = builders.chunk_config_map("ns", owner, 999, os.urandom(builders.CHUNK), "abc")
    (encoded,) = body["binaryData"].values()
    assert len(encoded) < CONFIG_MAP_LIMIT
    assert len(json.dumps(body)) < CONFIG_MAP_LIMIT + 4096
    assert body["metadata"]["ownerReferences"][0]["name"] == owner["metadata"]["name"]
    assert "blockOwnerDeletion" not in body["metadata"]["ownerReferences"][0]
    assert 2 * builders.BATCH <= 48 << 20


@pytest.mark.parametrize(
    "size",
    [0, 1, builders.CHUNK, builders.CHUNK + 1, builders.BATCH, builders.BATCH + 1, 50_000_000],
)
def test_batches_cover_the_file_in_order_without_gaps(size: int) -> None:
    plan = builders.batches(size)
    chunks = [chunk for batch in plan for chunk in batch]
    assert all(1 <= len(batch) <= builders.BATCH_CHUNKS for batch in plan)
    assert all(length <= builders.CHUNK for _, length in chunks)
    assert sum(length for _, length in chunks) == size
    offsets = [offset for offset, _ in chunks]
    assert offsets == sorted(offsets) and offsets[0] == 0
    assert all(a + n == b for (a, n), (b, _) in itertools.pairwise(chunks))


def test_the_chunk_volume_lists_each_chunk_as_a_numbered_file() -> None:
    volume, mount = builders.chunk_volume("job", 3)
    sources = volume["projected"]["sources"]
    assert [s["configMap"]["name"] for s in sources] == ["job-000", "job-001", "job-002"]
    assert [s["configMap"]["items"][0]["path"] for s in sources] == ["00000", "00001", "00002"]
    assert mount == {"name": "chunks", "mountPath": builders.CHUNKS_DIR, "readOnly": True}


def test_a_missing_claim_is_made_as_the_operator_would() -> None:
    claim = builders.claim(PVC, "team-a")
    assert claim["metadata"]["name"] == "headwater-artifacts"
    assert claim["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "1Gi"}},
    }


# --- what a Pod prints ----------------------------------------------------------------


def test_a_full_segment_stays_below_the_kubelets_log_rotation() -> None:
    header = wire.SegmentHeader(index=0, path="p", offset=0, length=wire.SEGMENT, sha256="0")
    out = io.StringIO()
    wire.print_segment(header, os.urandom(wire.SEGMENT), out)
    text = out.getvalue()
    lines = text.count("\n")
    assert len(text) + lines * RUNTIME_LINE_PREFIX < KUBELET_LOG_ROTATION
    assert max(len(line) for line in text.splitlines()) < 16 * 1024


@pytest.mark.parametrize("sizes", [[0], [1], [wire.SEGMENT], [wire.SEGMENT + 1, 0, 5]])
def test_segments_cut_every_file_of_a_plan(sizes: list[int]) -> None:
    cut = wire.segments(sizes)
    for index, size in enumerate(sizes):
        mine = [s for s in cut if s.file == index]
        assert sum(s.length for s in mine) == size
        assert [s.offset for s in mine] == list(range(0, max(size, 1), wire.SEGMENT))


def test_a_segment_is_read_back_from_a_log_with_other_lines_in_it() -> None:
    data = os.urandom(100_000)
    (segment,) = wire.segments([len(data)])
    header = wire.SegmentHeader(
        index=0, path="a/b", offset=0, length=len(data), sha256=digest(data).sha256
    )
    out = io.StringIO()
    out.write("Warning: something on stderr\n")
    wire.print_segment(header, data, out)
    assert wire.read_segment(out.getvalue(), segment, "a/b") == data
    cut = out.getvalue()[: len(out.getvalue()) // 2]
    with pytest.raises(TransferFailed, match="no complete segment"):
        wire.read_segment(cut, segment, "a/b")
    lines = out.getvalue().splitlines()
    lines[3] = lines[3][:-4] + "AAAA"
    with pytest.raises(TransferFailed, match="does not match its sha256"):
        wire.read_segment("\n".join(lines) + "\n", segment, "a/b")


# --- the store, as a transfer Job sees a PVC -------------------------------------------


def test_commit_renames_only_the_expected_bytes(tmp_path: Path) -> None:
    from fsspec.implementations.local import LocalFileSystem

    filesystem = LocalFileSystem()
    final = tmp_path / "radar.parquet"
    final.write_bytes(b"old")
    temp = tmp_path / ".push-1.radar.parquet"
    temp.write_bytes(b"new bytes")
    with pytest.raises(TransferFailed, match="nothing was replaced"):
        commit(filesystem, str(temp), str(final), digest(b"other bytes"))
    assert final.read_bytes() == b"old" and not temp.exists()
    temp.write_bytes(b"new bytes")
    commit(filesystem, str(temp), str(final), digest(b"new bytes"))
    assert final.read_bytes() == b"new bytes" and not temp.exists()


def test_only_stale_leftovers_of_pushes_are_swept(tmp_path: Path) -> None:
    from fsspec.implementations.local import LocalFileSystem

    old, fresh, data = tmp_path / ".push-a.part-00000", tmp_path / ".push-b.x", tmp_path / "x"
    for path in (old, fresh, data):
        path.write_bytes(b"1")
    hour_ago = time.time() - STALE_SECONDS - 60
    os.utime(old, (hour_ago, hour_ago))
    os.utime(data, (hour_ago, hour_ago))
    sweep_stale(LocalFileSystem(), str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == [".push-b.x", "x"]
    sweep_stale(LocalFileSystem(), str(tmp_path / "missing"))


def test_inspection_finds_artifacts_small_values_and_file_digests(tmp_path: Path) -> None:
    from fsspec.implementations.local import LocalFileSystem

    root = tmp_path / "store"
    write_artifact(str(root / "runs/r/n/total"), 200)
    write_artifact(str(root / "runs/r/n/big"), list(range(1000)))
    write_artifact(str(root / "runs/r/m/text"), "x" * 300)
    (root / "runs/r/n/broken").mkdir()
    (root / "runs/r/n/broken/meta.json").write_text("{not json")
    (root / "datasets/d").mkdir(parents=True)
    (root / "datasets/d/f.bin").write_bytes(b"abc")

    found = inspect(
        LocalFileSystem(), str(root), ["runs/r/*/*"], ["datasets/d/f.bin", "datasets/d/no"]
    )
    by_dir = {a.directory: a for a in found.artifacts}
    assert sorted(by_dir) == ["runs/r/m/text", "runs/r/n/big", "runs/r/n/total"]
    assert (by_dir["runs/r/n/total"].has_value, by_dir["runs/r/n/total"].value) == (True, 200)
    assert not by_dir["runs/r/n/big"].has_value
    assert not by_dir["runs/r/m/text"].has_value
    assert found.files == {"datasets/d/f.bin": digest(b"abc"), "datasets/d/no": None}


def chunk_dir(tmp_path: Path, name: str, chunks: list[bytes]) -> Path:
    """A batch's chunks as its Pod sees them: numbered files and the `..data` links a
    projected volume also holds."""
    directory = tmp_path / name
    directory.mkdir()
    for index, chunk in enumerate(chunks):
        (directory / f"{index:05d}").write_bytes(chunk)
    (directory / "..data").mkdir()
    return directory


def test_batches_written_by_pods_assemble_into_the_verified_file(tmp_path: Path) -> None:
    root = tmp_path / "store"
    pieces = [os.urandom(1000) for _ in range(5)]
    expected = digest(b"".join(pieces))
    common = ["--root", str(root), "--dataset", "radar", "--transfer", "t1"]
    first = chunk_dir(tmp_path, "b0", pieces[:2])
    assert in_cluster(["receive", *common, "--batch", "0", "--chunks", str(first)]) == 0
    # A retried Pod writes its batch again, whole.
    assert in_cluster(["receive", *common, "--batch", "0", "--chunks", str(first)]) == 0
    second = chunk_dir(tmp_path, "b1", pieces[2:4])
    assert in_cluster(["receive", *common, "--batch", "1", "--chunks", str(second)]) == 0
    last = chunk_dir(tmp_path, "b2", pieces[4:])
    finish = ["--finish", "radar.parquet", "--size", str(expected.size)]
    finish += ["--sha256", expected.sha256]
    assert in_cluster(["receive", *common, "--batch", "2", "--chunks", str(last), *finish]) == 0
    folder = root / "datasets" / "radar"
    assert [p.name for p in folder.iterdir()] == ["radar.parquet"]
    assert digest_file(folder / "radar.parquet") == expected


def test_a_push_that_does_not_verify_leaves_the_old_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "store"
    (root / "datasets/radar").mkdir(parents=True)
    (root / "datasets/radar/radar.parquet").write_bytes(b"old")
    chunks = chunk_dir(tmp_path, "b0", [b"new"])
    wrong = digest(b"not new")
    args = ["receive", "--root", str(root), "--dataset", "radar", "--transfer", "t"]
    args += ["--batch", "0", "--chunks", str(chunks), "--finish", "radar.parquet"]
    args += ["--size", str(wrong.size), "--sha256", wrong.sha256]
    assert in_cluster(args) == 1
    assert "nothing was replaced" in capsys.readouterr().err
    assert [p.name for p in (root / "datasets/radar").iterdir()] == ["radar.parquet"]
    assert (root / "datasets/radar/radar.parquet").read_bytes() == b"old"


def test_every_index_sends_its_segment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(2 * wire.SEGMENT + 10)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(data)
    plan = json.dumps([["d/f", len(data)]])
    received = b""
    for index, segment in enumerate(wire.segments([len(data)])):
        monkeypatch.setenv("JOB_COMPLETION_INDEX", str(index))
        assert in_cluster(["send", "--root", str(tmp_path), "--plan", plan]) == 0
        received += wire.read_segment(capsys.readouterr().out, segment, "d/f")
    assert received == data


# --- the client's side ----------------------------------------------------------------


def test_a_download_lands_only_when_it_verifies(tmp_path: Path) -> None:
    destination = tmp_path / "out" / "x.bin"
    with Landing(destination, digest(b"abcdef")) as landing:
        landing.write_at(3, b"def")
        landing.write_at(0, b"abc")
    assert destination.read_bytes() == b"abcdef"
    with pytest.raises(TransferFailed), Landing(destination, digest(b"other")) as landing:
        landing.write(b"abcdef!")
    assert destination.read_bytes() == b"abcdef"
    with pytest.raises(KeyboardInterrupt), Landing(tmp_path / "y.bin", None) as landing:
        landing.write(b"half")
        raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["x.bin"]


def test_uris_in_the_store_are_found_and_others_are_not() -> None:
    pvc = PVC.root("team-a")
    assert store_relative("datasets/d/f.bin", pvc) == "datasets/d/f.bin"
    assert store_relative("./datasets//d/f.bin", pvc) == "datasets/d/f.bin"
    assert store_relative("/var/lib/headwater/store/runs/r/n/o", pvc) == "runs/r/n/o"
    for elsewhere in ("/etc/passwd", "../x", "datasets/../../x", "s3://b/x", "file:///x"):
        assert store_relative(elsewhere, pvc) is None, elsewhere


def test_the_secrets_variables_become_s3fs_options() -> None:
    assert s3_options(
        {
            "AWS_ACCESS_KEY_ID": "k",
            "AWS_SECRET_ACCESS_KEY": "s",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
            "AWS_DEFAULT_REGION": "r",
            "OTHER": "x",
        }
    ) == {
        "key": "k",
        "secret": "s",
        "endpoint_url": "http://127.0.0.1:1",
        "client_kwargs": {"region_name": "r"},
    }
    assert s3_options({"AWS_ENDPOINT_URL_S3": "a", "AWS_ENDPOINT_URL": "b"})["endpoint_url"] == "a"


def test_only_old_suspended_transfer_jobs_count_as_orphans() -> None:
    from datetime import UTC, datetime, timedelta

    from headwater.transfer.jobrun import ORPHAN_SECONDS, orphans

    now = datetime(2026, 1, 1, tzinfo=UTC)
    old = (now - timedelta(seconds=ORPHAN_SECONDS + 1)).isoformat()
    young = (now - timedelta(seconds=ORPHAN_SECONDS - 1)).isoformat()

    def job(name: str, created: str, suspend: bool) -> dict[str, object]:
        return {
            "metadata": {"name": name, "creationTimestamp": created},
            "spec": {"suspend": suspend},
        }

    jobs = [job("a", old, True), job("b", young, True), job("c", old, False)]
    assert orphans(jobs, now) == ["a"]
    assert orphans([job("z", "2025-12-31T23:00:00Z", True)], now) == ["z"]
