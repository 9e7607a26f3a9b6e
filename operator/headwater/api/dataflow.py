"""Dataflow: a DAG of function nodes wired by names."""

from typing import Literal

from pydantic import Field

from headwater.api.base import ApiModel
from headwater.api.conditions import Condition
from headwater.api.meta import DNS_LABEL, ObjectMeta


class DataflowNode(ApiModel):
    """One step: a Function, what it reads and what it produces."""

    name: str | None = Field(default=None, max_length=63, pattern=DNS_LABEL)
    """Unique within the dataflow; defaults to the function's name."""
    function: str = Field(min_length=1)
    """The Function's metadata.name."""
    inputs: list[str] | dict[str, str] = []
    """Names this node reads. List form: each is a parameter name of the function.
    Map form: parameter → name, for renaming."""
    outputs: list[str] | None = None
    """Names for the function's outputs, positionally; the function's own names when
    left out."""

    @property
    def id(self) -> str:
        return self.name or self.function

    def input_map(self) -> dict[str, str]:
        """Parameter → wired name, for both forms."""
        if isinstance(self.inputs, dict):
            return dict(self.inputs)
        return {name: name for name in self.inputs}


class DataflowSpec(ApiModel):
    """Nodes wired by name: an output name of one node among another's inputs is an edge."""

    description: str | None = None
    """What the dataflow does, for people."""
    image: str | None = None
    """Default container image for every node whose Function names none."""
    nodes: list[DataflowNode] = Field(min_length=1)
    """The steps."""


class DataflowStatus(ApiModel):
    conditions: list[Condition] = []
    """Ready: the graph is valid and every Function it uses exists."""
    node_count: int | None = None
    """How many nodes it has."""
    depth: int | None = None
    """How many topological levels it has."""
    levels: list[list[str]] | None = None
    """Node names by topological level: each level depends only on earlier ones."""
    observed_generation: int | None = None
    """The metadata.generation this status describes."""


class Dataflow(ApiModel):
    api_version: str = "headwater.dev/v1alpha1"
    kind: Literal["Dataflow"] = "Dataflow"
    metadata: ObjectMeta
    spec: DataflowSpec
    status: DataflowStatus | None = None
