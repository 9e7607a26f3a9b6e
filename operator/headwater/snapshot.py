"""A Run's frozen view of what it executes: the Dataflow, its Functions with their
code resolved, and the Datasets it binds. Editing a Function later does not change it."""

from headwater.api.base import ApiModel
from headwater.api.dataflow import DataflowSpec
from headwater.api.dataset import DataFormat
from headwater.api.function import FunctionSpec
from headwater.api.meta import KeyRef


class ResolvedDataset(ApiModel):
    """Where a bound dataset's data is, as the executor sees it."""

    uri: str | None = None
    """An fsspec URL or local path of its bytes."""
    format: DataFormat
    """How to read it."""
    inline: object = None
    """Inline JSON values, when the source is inline."""
    is_inline: bool = False
    """True when `inline` holds the data."""
    config_map_key_ref: KeyRef | None = None
    """In a cluster: the ConfigMap key a Job mounts at `uri`."""
    secret_key_ref: KeyRef | None = None
    """In a cluster: the Secret key a Job mounts at `uri`."""
    content: str | None = None
    """What identifies its bytes: `sha256:<hex>`, or `version:<etag>` as an object store
    reports it; None when not known (then its readers are never reused)."""


class ReusedNode(ApiModel):
    """A node whose outputs come from an earlier run instead of running it."""

    run: str
    """The Run that computed them."""
    node: str
    """Its node there."""
    outputs: list[str] = []
    """The outputs' URIs, in the order the function declares them."""
    cached: bool = False
    """Found in the namespace's cache rather than by resumeFrom."""


class Snapshot(ApiModel):
    """Everything a Run executes, frozen when it starts."""

    dataflow: DataflowSpec
    """The Dataflow's spec."""
    functions: dict[str, FunctionSpec]
    """Function name → spec; `code.inline` holds the source even when it came from a
    ConfigMap, so the snapshot does not depend on the ConfigMap later."""
    datasets: dict[str, ResolvedDataset] = {}
    """Dataset name → where its data is."""
    reuse: dict[str, ReusedNode] = {}
    """Node → the earlier result it takes instead of running (resumeFrom, cache), decided
    when the Run started, from fingerprints."""
    reasons: dict[str, str] = {}
    """Node → why it runs although the Run resumes or caches: what changed."""
