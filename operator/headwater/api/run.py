"""Run: one execution of a dataflow."""

from enum import StrEnum
from typing import Literal, Self

from pydantic import Field, model_validator

from headwater.api.base import ApiModel, JsonValue, Timestamp, exactly_one_of
from headwater.api.conditions import Condition
from headwater.api.meta import DataName, EnvVar, ObjectMeta, ResourceName, RunName
from headwater.limits import MAX_BINDINGS, MAX_ENV, MAX_NODES, MAX_SECONDS, RUN_NAME_LENGTH


class Binding(ApiModel):
    """What a free input receives: a Dataset by name, or a literal JSON value."""

    model_config = exactly_one_of("dataset", "value")

    dataset: ResourceName | None = None
    """A Dataset's metadata.name in the same namespace."""
    value: JsonValue = None
    """A literal JSON value: lists and objects nested at most 32 deep, at most 64 KiB as
    compact JSON."""

    @model_validator(mode="after")
    def exactly_one(self) -> Self:
        if (self.dataset is None) == (self.value is None):
            raise ValueError("a binding needs exactly one of dataset, value")
        return self


class CachePolicy(ApiModel):
    """Whether a Run shares results through the namespace's cache."""

    enabled: bool = True
    """Use and feed the cache."""
    max_age_seconds: int | None = Field(default=None, ge=1, le=MAX_SECONDS)
    """Reuse only results at most this old; any age when left out."""


class RunSpec(ApiModel):
    """One execution of a Dataflow with its inputs bound."""

    dataflow: ResourceName
    """The Dataflow's metadata.name."""
    parameters: dict[DataName, Binding] = Field(default={}, max_length=MAX_BINDINGS)
    """Free input name → binding. A free input is a name no node produces; one left
    unbound takes its parameter's default."""
    env: list[EnvVar] = Field(default=[], max_length=MAX_ENV)
    """Environment variables added to every node."""
    retries: int = Field(default=0, ge=0, le=9)
    """Extra attempts per node after a failure (0–9). A bad-input failure is not retried."""
    parallelism: int | None = Field(default=None, ge=1, le=MAX_NODES)
    """Most nodes running at once; no limit when left out."""
    timeout_seconds: int | None = Field(default=None, ge=1, le=MAX_SECONDS)
    """Deadline for the whole run; running nodes are stopped and the run fails. At most
    a year."""
    ttl_seconds_after_finished: int | None = Field(default=None, ge=0, le=MAX_SECONDS)
    """Delete the Run this long after it finished; at most a year."""
    stop: bool = False
    """true: stop running nodes, start no more, and finish as Cancelled."""
    resume_from: RunName | None = None
    """Another Run whose succeeded nodes' outputs are reused instead of run again, each
    only when its fingerprint (code, image, parameters, bound values, input content,
    upstream fingerprints, env) is the same as there; the status says why the others
    ran."""
    cache: CachePolicy | None = None
    """Reuse outputs of any earlier Run of this namespace whose node fingerprint matches
    (and make this Run's outputs reusable by later ones)."""


class RunPhase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"


class NodePhase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SKIPPED = "Skipped"
    CANCELLED = "Cancelled"

    @property
    def finished(self) -> bool:
        return self not in (NodePhase.PENDING, NodePhase.RUNNING)


class NodeStatus(ApiModel):
    """What happened to one node; fields that do not apply are left out to stay small."""

    phase: NodePhase = NodePhase.PENDING
    """Pending, Running, Succeeded, Failed, Skipped or Cancelled."""
    attempts: int | None = None
    """How many times it was started (pods, in a cluster)."""
    job: str | None = None
    """The Job that runs it, in a cluster."""
    started_at: Timestamp | None = None
    finished_at: Timestamp | None = None
    exit_code: int | None = None
    """The runner's exit code: 0 success, 1 the function raised, 2 bad input."""
    message: str | None = None
    """Why it failed or was skipped; the last line of the traceback for an exception."""
    outputs: dict[str, str] | None = None
    """Output name → URI of the stored artifact."""
    reused_from: str | None = None
    """The Run whose outputs this node reused (resumeFrom)."""


class NodeCounts(ApiModel):
    """Nodes by phase, for people and printer columns."""

    succeeded: int = 0
    """Succeeded, reused ones included."""
    failed: int = 0
    running: int = 0
    pending: int = 0
    skipped: int = 0
    cancelled: int = 0


class RunStatus(ApiModel):
    """Where the run is; the Succeeded condition is the contract, phase a summary."""

    phase: RunPhase = RunPhase.PENDING
    """Pending, Running, Succeeded, Failed or Cancelled."""
    conditions: list[Condition] = []
    """Succeeded (Unknown while running), Running."""
    progress: str | None = None
    """Succeeded (or reused) nodes / all nodes, e.g. 3/4: a failed run never shows 4/4."""
    started_at: Timestamp | None = None
    finished_at: Timestamp | None = None
    duration: str | None = None
    """How long the run took, e.g. 1m23s; set when it finishes."""
    node_counts: NodeCounts | None = None
    """How many nodes are in each phase."""
    nodes: dict[str, NodeStatus] = {}
    """Node name → state. A run too large to list every node within the status budget
    lists the most telling ones (running, failed first) and counts the rest in
    nodesOmitted; every node's phase is then in nodePhases."""
    nodes_omitted: int | None = None
    """How many nodes `nodes` leaves out to keep the status small."""
    node_phases: str | None = None
    """Set when `nodes` lists only some nodes: one letter per node, in the order of the
    dataflow's nodes: P pending, R running, S succeeded, U reused, F failed, K skipped,
    C cancelled. Every attempt's full record is in the artifact store under
    runs/<run>/<node>/.headwater/."""
    outputs: dict[str, str] = {}
    """The dataflow's final outputs (names no node reads), name → URI."""
    output_values: dict[str, JsonValue] = {}
    """Small plain-JSON final outputs (a number, a short string, a dict of metrics; at
    most 256 bytes each as JSON, 16 KiB in all), shown beside their URIs in `outputs`
    so that a result is read without a download."""
    outputs_omitted: int | None = None
    """How many final outputs `outputs` leaves out to keep the status small; they are at
    runs/<run>/<node>/<output> in the artifact store."""
    observed_generation: int | None = None
    """The metadata.generation this status describes."""


class Run(ApiModel):
    api_version: str = "headwater.dev/v1alpha1"
    kind: Literal["Run"] = "Run"
    metadata: ObjectMeta
    spec: RunSpec
    status: RunStatus | None = None

    @model_validator(mode="after")
    def name_fits_a_label(self) -> Self:
        # The CRD says the same in CEL; metadata is the API server's, not the schema's.
        if len(self.metadata.name) > RUN_NAME_LENGTH:
            raise ValueError(
                f"a Run's name is at most {RUN_NAME_LENGTH} characters, as it labels its Jobs"
            )
        return self
