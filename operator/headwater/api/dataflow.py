"""Dataflow: a DAG of function nodes wired by names."""

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from headwater.api.base import ApiModel
from headwater.api.conditions import Condition
from headwater.api.meta import DNS_LABEL, DataName, Identifier, ObjectMeta, ResourceName
from headwater.limits import DESCRIPTION_LENGTH, IMAGE_LENGTH, MAX_NODES, MAX_PARAMS


def names_only(value: Any) -> Any:
    """`inputs` is free-form in the CRD (a list or a map cannot be both in a structural
    schema), so the API server takes anything, nested up to 10,000 deep. One level of
    strings is all it may hold: say so before pydantic walks it. A scalar that is not a
    string (a bare `y` that YAML read as a boolean) is left to pydantic, which names its
    place."""
    members = value.values() if isinstance(value, dict) else value
    if not isinstance(value, dict | list) or any(isinstance(m, dict | list) for m in members):
        raise ValueError("inputs is a list of parameter names or a map of parameter → name")
    return value


class DataflowNode(ApiModel):
    """One step: a Function, what it reads and what it produces."""

    name: str | None = Field(default=None, max_length=63, pattern=DNS_LABEL)
    """Unique within the dataflow; defaults to the function's name."""
    function: ResourceName
    """The Function's metadata.name."""
    inputs: Annotated[
        Annotated[list[Identifier], Field(max_length=MAX_PARAMS)]
        | Annotated[dict[Identifier, DataName], Field(max_length=MAX_PARAMS)],
        BeforeValidator(names_only),
    ] = []
    """Names this node reads. List form: each is a parameter name of the function.
    Map form: parameter → name, for renaming. At most 256."""
    outputs: Annotated[list[DataName], Field(max_length=MAX_PARAMS)] | None = None
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

    description: str | None = Field(default=None, max_length=DESCRIPTION_LENGTH)
    """What the dataflow does, for people."""
    image: str | None = Field(default=None, min_length=1, max_length=IMAGE_LENGTH)
    """Default container image for every node whose Function names none."""
    nodes: list[DataflowNode] = Field(min_length=1, max_length=MAX_NODES)
    """The steps; at most 10,000."""


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
