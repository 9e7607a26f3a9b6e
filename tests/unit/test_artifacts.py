"""The artifact store and dataset loading, on local paths and memory://."""

import hashlib
import json
import pickle
import subprocess
import sys
import uuid
from fractions import Fraction
from pathlib import Path

import fsspec
import numpy as np
import pandas as pd
import pytest

from headwater.api.dataset import DataFormat
from headwater.artifacts import (
    ArtifactError,
    DataUnavailable,
    UnreadableData,
    UnstorableValue,
    artifact_data_path,
    fingerprint,
    infer_format,
    is_json_value,
    load_data,
    read_artifact,
    read_meta,
    write_artifact,
)


@pytest.fixture(params=["local", "memory"])
def artifact_uri(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh artifact directory in each kind of store."""
    if request.param == "local":
        return str(tmp_path / "runs" / "r1" / "node" / "out")
    return f"memory://headwater-tests/{uuid.uuid4().hex}/out"


def data_bytes(uri: str) -> bytes:
    with fsspec.open(artifact_data_path(uri), "rb") as file:
        return file.read()


class Point:
    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)


def test_dataframe_is_parquet(artifact_uri: str) -> None:
    frame = pd.DataFrame({"station": ["a", "b"], "rain": [0.5, 1.25]})
    meta = write_artifact(artifact_uri, frame)
    assert (meta.serializer, meta.file) == ("parquet", "data.parquet")
    assert meta.type == f"{type(frame).__module__}.DataFrame"
    pd.testing.assert_frame_equal(read_artifact(artifact_uri), frame)
    # Anyone can read it with pandas alone.
    assert artifact_data_path(artifact_uri).endswith("/data.parquet")


def test_ndarray_is_npy(artifact_uri: str) -> None:
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    meta = write_artifact(artifact_uri, array)
    assert (meta.serializer, meta.file, meta.type) == ("npy", "data.npy", "numpy.ndarray")
    restored = read_artifact(artifact_uri)
    assert restored.dtype == np.float32
    np.testing.assert_array_equal(restored, array)


@pytest.mark.parametrize(
    "value",
    [{"threshold": 0.5, "labels": ["a", "b"], "nested": {"ok": True, "none": None}}, [1, 2.5, "x"]],
)
def test_plain_values_are_json_readable_without_headwater(artifact_uri: str, value: object) -> None:
    meta = write_artifact(artifact_uri, value)
    assert (meta.serializer, meta.file) == ("json", "data.json")
    assert meta.type == f"builtins.{type(value).__name__}"
    assert json.loads(data_bytes(artifact_uri)) == value
    assert read_artifact(artifact_uri) == value


@pytest.mark.parametrize(
    "value",
    [Point(1, 2), (1, 2), float("nan"), {1: "int key"}, np.float64(1.5), Fraction(1, 3)],
)
def test_anything_else_is_pickle(artifact_uri: str, value: object) -> None:
    meta = write_artifact(artifact_uri, value)
    assert (meta.serializer, meta.file) == ("pickle", "data.pkl")
    restored = read_artifact(artifact_uri)
    assert type(restored) is type(value)
    if value == value:  # NaN is the one value not equal to itself
        assert restored == value


def test_object_array_falls_back_to_pickle(artifact_uri: str) -> None:
    array = np.array([{"a": 1}, None], dtype=object)
    assert write_artifact(artifact_uri, array).serializer == "pickle"
    assert list(read_artifact(artifact_uri)) == [{"a": 1}, None]


def test_unpicklable_value_is_unstorable(artifact_uri: str) -> None:
    with pytest.raises(UnstorableValue, match=r"cannot store a builtins\.generator"):
        write_artifact(artifact_uri, (n for n in range(3)))


def test_meta_json_records_size_and_sha256(artifact_uri: str) -> None:
    meta = write_artifact(artifact_uri, {"a": [1, 2, 3]})
    data = data_bytes(artifact_uri)
    assert meta.size == len(data)
    assert meta.sha256 == hashlib.sha256(data).hexdigest()
    with fsspec.open(f"{artifact_uri}/meta.json", "rb") as file:
        on_disk = json.load(file)
    assert on_disk == {
        "serializer": "json",
        "type": "builtins.dict",
        "size": len(data),
        "sha256": meta.sha256,
        "file": "data.json",
    }
    assert read_meta(artifact_uri) == meta


def test_overwrite_with_another_serializer(artifact_uri: str) -> None:
    write_artifact(artifact_uri, {"first": 1})
    write_artifact(artifact_uri, np.zeros(2))
    assert read_meta(artifact_uri).serializer == "npy"
    np.testing.assert_array_equal(read_artifact(artifact_uri), np.zeros(2))
    filesystem, directory = fsspec.core.url_to_fs(artifact_uri)
    names = sorted(path.rsplit("/", 1)[-1] for path in filesystem.ls(directory, detail=False))
    assert names == ["data.npy", "meta.json"]


def test_file_url_is_a_local_store(tmp_path: Path) -> None:
    write_artifact(f"file://{tmp_path}/out", [1, 2])
    assert json.loads((tmp_path / "out" / "data.json").read_text()) == [1, 2]
    assert read_artifact(str(tmp_path / "out")) == [1, 2]


def test_missing_artifact_names_the_uri(tmp_path: Path) -> None:
    uri = str(tmp_path / "nothing")
    with pytest.raises(DataUnavailable, match="nothing: no artifact here"):
        read_artifact(uri)


def test_corrupted_data_fails_the_checksum(tmp_path: Path) -> None:
    uri = str(tmp_path / "out")
    write_artifact(uri, {"a": 1})
    (tmp_path / "out" / "data.json").write_text('{"a": 2}')
    with pytest.raises(UnreadableData, match="sha256"):
        read_artifact(uri)


def test_meta_cannot_point_outside_the_artifact(tmp_path: Path) -> None:
    uri = str(tmp_path / "out")
    write_artifact(uri, {"a": 1})
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    (tmp_path / "out" / "meta.json").write_text(json.dumps({**meta, "file": "../../etc/passwd"}))
    with pytest.raises(UnreadableData, match=r"invalid meta\.json"):
        read_artifact(uri)


def test_errors_share_a_base() -> None:
    for error_type in (DataUnavailable, UnreadableData, UnstorableValue):
        assert issubclass(error_type, ArtifactError)


def test_is_json_value_is_strict() -> None:
    assert is_json_value({"a": [1, 2.0, None, True, "s", {"b": []}]})
    assert not is_json_value({"a": float("inf")})
    assert not is_json_value([(1, 2)])
    assert not is_json_value(np.int64(3))


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("data/radar.parquet", DataFormat.PARQUET),
        ("s3://bucket/x.PQ", DataFormat.PARQUET),
        ("file:///d/gauges.csv", DataFormat.CSV),
        ("https://host/grid.json?version=2", DataFormat.JSON),
        ("a.npy", DataFormat.NPY),
        ("m.pkl", DataFormat.PICKLE),
        ("m.pickle", DataFormat.PICKLE),
        ("model.pt", DataFormat.PT),
        ("model.pth", DataFormat.PT),
        ("notes.txt", DataFormat.TEXT),
        ("README.md", DataFormat.TEXT),
        ("blob", DataFormat.BYTES),
        ("archive.tar.gz", DataFormat.BYTES),
    ],
)
def test_infer_format(uri: str, expected: DataFormat) -> None:
    assert infer_format(uri) == expected


@pytest.fixture
def dataset_dir(tmp_path: Path) -> Path:
    frame = pd.DataFrame({"x": [1, 2], "y": ["a", "b"]})
    frame.to_parquet(tmp_path / "frame.parquet")
    frame.to_csv(tmp_path / "frame.csv", index=False)
    (tmp_path / "grid.json").write_text('{"cells": [1, 2]}')
    np.save(tmp_path / "array.npy", np.arange(4))
    (tmp_path / "object.pkl").write_bytes(pickle.dumps(Point(3, 4)))
    (tmp_path / "notes.txt").write_text("héllo")
    (tmp_path / "model.pt").write_bytes(b"\x80\x02torch")
    (tmp_path / "blob").write_bytes(b"\x00\x01")
    return tmp_path


def test_load_data_by_format(dataset_dir: Path) -> None:
    expected = pd.DataFrame({"x": [1, 2], "y": ["a", "b"]})
    pd.testing.assert_frame_equal(load_data(str(dataset_dir / "frame.parquet")), expected)
    pd.testing.assert_frame_equal(
        load_data(str(dataset_dir / "frame.csv"), DataFormat.CSV), expected, check_dtype=False
    )
    assert load_data(f"file://{dataset_dir}/grid.json") == {"cells": [1, 2]}
    np.testing.assert_array_equal(load_data(str(dataset_dir / "array.npy")), np.arange(4))
    assert load_data(str(dataset_dir / "object.pkl"), "pickle") == Point(3, 4)
    assert load_data(str(dataset_dir / "notes.txt")) == "héllo"
    assert load_data(str(dataset_dir / "model.pt")) == b"\x80\x02torch"
    assert load_data(str(dataset_dir / "blob")) == b"\x00\x01"


def test_explicit_format_wins_over_extension(dataset_dir: Path) -> None:
    assert load_data(str(dataset_dir / "grid.json"), DataFormat.TEXT) == '{"cells": [1, 2]}'
    assert load_data(str(dataset_dir / "grid.json"), "bytes") == b'{"cells": [1, 2]}'


def test_load_data_from_memory() -> None:
    uri = f"memory://headwater-tests/{uuid.uuid4().hex}/values.json"
    with fsspec.open(uri, "wb") as file:
        file.write(b"[1, 2, 3]")
    assert load_data(uri) == [1, 2, 3]


def test_load_data_errors_name_the_uri(dataset_dir: Path) -> None:
    with pytest.raises(DataUnavailable, match=r"missing\.csv: no such file"):
        load_data(str(dataset_dir / "missing.csv"))
    with pytest.raises(UnreadableData, match=r"notes\.txt: not valid parquet"):
        load_data(str(dataset_dir / "notes.txt"), DataFormat.PARQUET)


def test_fingerprint(dataset_dir: Path) -> None:
    content = (dataset_dir / "frame.csv").read_bytes()
    assert fingerprint(str(dataset_dir / "frame.csv")) == (
        len(content),
        hashlib.sha256(content).hexdigest(),
    )
    with pytest.raises(DataUnavailable):
        fingerprint(str(dataset_dir / "missing.csv"))


HEAVY_MODULES = ("pandas", "pyarrow", "numpy")
LAZY_PROBE = """
import json, sys
from headwater.artifacts import load_data, read_artifact, write_artifact
import headwater.runner.run
root = sys.argv[1]
write_artifact(root + "/int", 42)
assert read_artifact(root + "/int") == 42
open(root + "/values.json", "w").write("[1, 2]")
assert load_data(root + "/values.json") == [1, 2]
imported = [name for name in {heavy!r} if name in sys.modules]
print(json.dumps(imported))
"""


def test_plain_values_never_import_pandas_pyarrow_or_numpy(tmp_path: Path) -> None:
    """The runner and the store import the heavy libraries only for DataFrames, arrays
    and the formats that hold them: a node that passes an int starts in ~0.25 s, not ~0.55."""
    probe = LAZY_PROBE.format(heavy=HEAVY_MODULES)
    done = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert json.loads(done.stdout) == []


def test_dataframe_detection_does_not_need_pandas_imported_first(tmp_path: Path) -> None:
    """A DataFrame exists only if pandas is imported, so looking in sys.modules is exact."""
    probe = (
        "import sys\n"
        "from headwater.artifacts import read_artifact, write_artifact\n"
        "import pandas as pd, numpy as np\n"
        f"root = {str(tmp_path)!r}\n"
        "assert write_artifact(root + '/f', pd.DataFrame({'a': [1]})).serializer == 'parquet'\n"
        "assert write_artifact(root + '/n', np.arange(3)).serializer == 'npy'\n"
    )
    subprocess.run([sys.executable, "-c", probe], check=True)
    # Read back in a process that has not imported pandas or numpy: loading imports them.
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "from headwater.artifacts import read_artifact\n"
            f"frame = read_artifact({str(tmp_path / 'f')!r})\n"
            f"array = read_artifact({str(tmp_path / 'n')!r})\n"
            "print(type(frame).__name__, type(array).__name__)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == ["DataFrame", "ndarray"]
