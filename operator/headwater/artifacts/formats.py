"""Reading datasets by format, inferring the format from a file name, and fingerprinting
the bytes (size, sha256) for a Dataset's status.

pandas, pyarrow and numpy are imported only by the decoders that need them: a runner
whose node reads JSON never pays for them."""

import hashlib
import io
import json
import pickle
from collections.abc import Callable
from posixpath import splitext
from urllib.parse import urlsplit

from headwater.api.dataset import DataFormat
from headwater.artifacts.errors import ArtifactError, DataUnavailable, UnreadableData
from headwater.artifacts.serializers import load_npy, load_parquet
from headwater.artifacts.urls import StorageOptions, open_filesystem

FORMAT_BY_EXTENSION: dict[str, DataFormat] = {
    ".parquet": DataFormat.PARQUET,
    ".pq": DataFormat.PARQUET,
    ".csv": DataFormat.CSV,
    ".json": DataFormat.JSON,
    ".npy": DataFormat.NPY,
    ".pkl": DataFormat.PICKLE,
    ".pickle": DataFormat.PICKLE,
    ".pt": DataFormat.PT,
    ".pth": DataFormat.PT,
    ".txt": DataFormat.TEXT,
    ".md": DataFormat.TEXT,
}


def decode_csv(data: bytes) -> object:
    import pandas as pd

    return pd.read_csv(io.BytesIO(data))


DECODERS: dict[DataFormat, Callable[[bytes], object]] = {
    DataFormat.PARQUET: load_parquet,
    DataFormat.CSV: decode_csv,
    DataFormat.JSON: json.loads,
    DataFormat.NPY: load_npy,
    DataFormat.PICKLE: pickle.loads,
    DataFormat.TEXT: lambda data: data.decode("utf-8"),
}
"""Formats not listed here (pt, bytes) reach the function as raw bytes: loading a torch
file needs torch, which the function's image has and the runner does not."""

CHUNK_SIZE = 1 << 20


def infer_format(uri: str) -> DataFormat:
    """The format a file name suggests (query strings ignored); bytes when none fits."""
    extension = splitext(urlsplit(uri).path if "://" in uri else uri)[1].lower()
    return FORMAT_BY_EXTENSION.get(extension, DataFormat.BYTES)


def read_bytes(uri: str, storage_options: StorageOptions = None) -> bytes:
    """All bytes at `uri`, with missing data told apart from other I/O failures."""
    filesystem, path = open_filesystem(uri, storage_options)
    try:
        return filesystem.cat_file(path)
    except FileNotFoundError as error:
        raise DataUnavailable(uri, "no such file") from error
    except IsADirectoryError as error:
        raise UnreadableData(uri, "is a directory, not a file") from error
    except OSError as error:
        raise ArtifactError(uri, f"cannot read: {error}") from error


def load_data(
    uri: str,
    format: DataFormat | str | None = None,
    storage_options: StorageOptions = None,
) -> object:
    """The dataset at `uri` as its format's Python object: parquet and csv → DataFrame,
    json → the decoded value, npy → array, pickle → the object, text → str, else bytes."""
    data_format = DataFormat(format) if format else infer_format(uri)
    data = read_bytes(uri, storage_options)
    decode = DECODERS.get(data_format)
    if decode is None:
        return data
    try:
        return decode(data)
    except Exception as error:  # each decoder has its own error types
        raise UnreadableData(uri, f"not valid {data_format} data: {error}") from error


def fingerprint(uri: str, storage_options: StorageOptions = None) -> tuple[int, str]:
    """(size in bytes, hex sha256) of the file at `uri`, streamed in chunks."""
    filesystem, path = open_filesystem(uri, storage_options)
    digest = hashlib.sha256()
    size = 0
    try:
        with filesystem.open(path, "rb") as file:
            while chunk := file.read(CHUNK_SIZE):
                digest.update(chunk)
                size += len(chunk)
    except FileNotFoundError as error:
        raise DataUnavailable(uri, "no such file") from error
    except IsADirectoryError as error:
        raise UnreadableData(uri, "is a directory, not a file") from error
    except OSError as error:
        raise ArtifactError(uri, f"cannot read: {error}") from error
    return size, digest.hexdigest()
