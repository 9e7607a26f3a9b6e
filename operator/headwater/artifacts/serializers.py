"""Serializers chosen by an object's type: parquet for DataFrames, npy for arrays, JSON
for plain values (readable without headwater), pickle as the last resort.

pandas, pyarrow and numpy are imported only when a DataFrame or an array is written or
read: an object can only be a DataFrame if pandas is already imported, so the type
tests look in sys.modules instead of importing. A node that passes an int starts
about 0.3 s faster for it."""

import io
import json
import math
import pickle
import sys
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Serializer:
    """One way to turn objects into the bytes of `data.<extension>` and back."""

    name: str
    extension: str
    accepts: Callable[[object], bool]
    dump: Callable[[object], bytes]
    load: Callable[[bytes], object]


def is_json_value(value: object) -> bool:
    """True when JSON round-trips `value` exactly: None, bool, int, finite float, str, and
    lists and str-keyed dicts of those. Exact types only, so a tuple, a numpy scalar or a
    str subclass goes to pickle and comes back as itself."""
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return True
    if kind is float:
        return math.isfinite(value)
    if kind is list:
        return all(is_json_value(item) for item in value)
    if kind is dict:
        return all(type(key) is str and is_json_value(item) for key, item in value.items())
    return False


def is_dataframe(obj: object) -> bool:
    """A pandas DataFrame (or subclass), without importing pandas."""
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(obj, pandas.DataFrame)


def is_ndarray(obj: object) -> bool:
    """A numpy array (or subclass), without importing numpy."""
    numpy = sys.modules.get("numpy")
    return numpy is not None and isinstance(obj, numpy.ndarray)


def _dump_parquet(frame: object) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


def load_parquet(data: bytes) -> object:
    import pandas as pd

    return pd.read_parquet(io.BytesIO(data))


def _dump_npy(array: object) -> bytes:
    import numpy as np

    buffer = io.BytesIO()
    # allow_pickle=False: object arrays fail here and fall through to pickle.
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def load_npy(data: bytes) -> object:
    import numpy as np

    return np.load(io.BytesIO(data), allow_pickle=False)


def _dump_json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, allow_nan=False).encode()


PARQUET = Serializer(
    name="parquet",
    extension="parquet",
    accepts=is_dataframe,
    dump=_dump_parquet,
    load=load_parquet,
)
NPY = Serializer(
    name="npy",
    extension="npy",
    accepts=is_ndarray,
    dump=_dump_npy,
    load=load_npy,
)
JSON = Serializer(
    name="json",
    extension="json",
    accepts=is_json_value,
    dump=_dump_json,
    load=lambda data: json.loads(data),
)
PICKLE = Serializer(
    name="pickle",
    extension="pkl",
    accepts=lambda obj: True,
    dump=lambda obj: pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL),
    load=pickle.loads,
)

SERIALIZERS: tuple[Serializer, ...] = (PARQUET, NPY, JSON, PICKLE)
"""In order of preference; pickle accepts everything and comes last."""

BY_NAME: dict[str, Serializer] = {serializer.name: serializer for serializer in SERIALIZERS}


def candidates_for(obj: object) -> list[Serializer]:
    """The serializers to try for `obj`, best first. A preferred one can still fail (a
    DataFrame with non-string column names is not valid parquet), so pickle stays last."""
    return [serializer for serializer in SERIALIZERS if serializer.accepts(obj)]
