"""The node task: everything the runner needs to run one node, passed as data.

Both executors build a Task from a Run's snapshot and hand it to `python -m
headwater.runner TASK_FILE`; parameters travel as data, never templated into code.
"""

from typing import Any

from pydantic import Field

from headwater.api.base import ApiModel, JsonValue
from headwater.api.dataset import DataFormat
from headwater.api.function import ParamType


class TaskInput(ApiModel):
    """One parameter of the function and where its value comes from: exactly one of
    `dataset_uri` (a dataset's data), `artifact_uri` (an upstream node's stored output)
    or `value` (a literal; `has_value` tells a null literal from none)."""

    param: str
    """The Python parameter's name."""
    type: ParamType
    """path, artifact or value: what the function receives."""
    dataset_uri: str | None = None
    """An fsspec URL or local path of a dataset's data."""
    format: DataFormat | None = None
    """The dataset's format, for loading it as an artifact."""
    artifact_uri: str | None = None
    """The directory of an upstream node's output in the artifact store."""
    value: JsonValue = None
    """A literal JSON value (a value binding, a default, or an inline dataset)."""
    has_value: bool = False
    """True when `value` is the input, even if it is null."""


class Task(ApiModel):
    """One node of one run, ready to execute."""

    run: str
    """The Run's name."""
    node: str
    """The node's name."""
    handler: str
    """The callable's name."""
    code: str | None = None
    """Python source defining the handler (inline or ConfigMap code)."""
    code_file: str | None = None
    """A file holding the Python source; a Job mounts the Run's code snapshot there, so
    the task itself stays small."""
    fingerprint: str | None = None
    """The node's fingerprint (headwater.fingerprint), recorded in each output's
    meta.json so that a result says what made it."""
    filename: str | None = None
    """The name tracebacks give the source: the ConfigMap key it came from
    (`preprocessing.py`), else `<Function NAME>`."""
    module: str | None = None
    """A dotted module to import the handler from, when there is no source."""
    inputs: list[TaskInput] = []
    """The function's parameters in call order."""
    output_names: list[str] = []
    """The function's declared output names, in order."""
    outputs: dict[str, str] = {}
    """Declared output name → artifact directory URI to write it to."""
    storage_options: dict[str, Any] = Field(default_factory=dict)
    """fsspec options for the artifact store and dataset URLs (credentials, endpoints)."""
    result_path: str | None = None
    """Where to write the JSON result; the termination-message file in a cluster."""
    bookkeeping: str | None = None
    """The node's `.headwater` folder in the artifact store (a path or an fsspec URL),
    where the runner keeps each attempt's log and record; None keeps neither."""
