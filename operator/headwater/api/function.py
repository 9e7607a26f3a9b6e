"""Function: one Python callable a dataflow node runs."""

from enum import StrEnum
from typing import Annotated, Any, Literal, Self

from pydantic import BeforeValidator, ConfigDict, Field, ValidationInfo, model_validator

from headwater.api.base import ApiModel, JsonValue, bounded_json, exactly_one_of
from headwater.api.conditions import Condition
from headwater.api.meta import (
    DataName,
    EnvVar,
    Identifier,
    KeyRef,
    ObjectMeta,
    ResourceRequirements,
)
from headwater.limits import (
    CODE_LENGTH,
    DESCRIPTION_LENGTH,
    IMAGE_LENGTH,
    MAX_ENV,
    MAX_PARAMS,
    MODULE_LENGTH,
    PARAM_DESCRIPTION_LENGTH,
)

AS_APPLIED = {"asApplied": True}
"""Validation context for a manifest as a user applies it, which the API server checks
against the CRD, as opposed to a copy headwater made (a Run's snapshot)."""
MODULE_NAME = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"


JsonSchema = Annotated[dict[str, Any], BeforeValidator(bounded_json)]
"""A JSON Schema document, bounded like every free-form value."""


class FunctionType(StrEnum):
    SOURCE = "source"
    TRANSFORMER = "transformer"
    SINK = "sink"


class ParamType(StrEnum):
    """How an input reaches the function."""

    PATH = "path"
    """A local file path to the data (downloaded first when remote)."""
    ARTIFACT = "artifact"
    """The loaded object: a DataFrame, an array, a decoded JSON value…"""
    VALUE = "value"
    """A JSON value."""


class FunctionCode(ApiModel):
    """Where the code is: exactly one of inline, configMapKeyRef, module."""

    model_config = exactly_one_of("inline", "configMapKeyRef", "module")

    inline: str | None = Field(default=None, min_length=1, max_length=CODE_LENGTH)
    """Python source that defines the handler; at most 65,536 characters (code from a
    ConfigMap too), so a Run's snapshot always has room for it."""
    config_map_key_ref: KeyRef | None = None
    """A ConfigMap key holding the Python source."""
    module: str | None = Field(
        default=None, min_length=1, max_length=MODULE_LENGTH, pattern=MODULE_NAME
    )
    """A dotted module name importable inside the image."""

    @model_validator(mode="after")
    def exactly_one(self, info: ValidationInfo) -> Self:
        given = [n for n in ("inline", "config_map_key_ref", "module") if getattr(self, n)]
        # A snapshot keeps ConfigMap code as read, beside the key it came from, so that
        # messages and tracebacks name that key; a user gives one source only.
        read_from_key = given == ["inline", "config_map_key_ref"]
        if len(given) != 1 and not (read_from_key and info.context != AS_APPLIED):
            raise ValueError(
                f"code needs exactly one of inline, configMapKeyRef, module; got {len(given)}"
            )
        return self


class Param(ApiModel):
    """One parameter of the callable."""

    name: Identifier
    """The Python parameter's name."""
    type: ParamType = ParamType.ARTIFACT
    """path, artifact or value."""
    default: JsonValue = None
    """A JSON default; only value parameters take one. Nested at most 32 deep, at most
    64 KiB as compact JSON."""
    schema_: JsonSchema | None = Field(default=None, alias="schema")
    """A JSON Schema the value must match (e.g. {type: number, minimum: 0}); only value
    parameters take one. The default and every Run's binding are checked against it
    before anything runs. Nested at most 32 deep, at most 64 KiB as compact JSON."""
    description: str | None = Field(default=None, max_length=PARAM_DESCRIPTION_LENGTH)
    """What the parameter means, for people."""

    @model_validator(mode="after")
    def default_and_schema_only_for_values(self) -> Self:
        for field, given in (("default", self.default), ("schema", self.schema_)):
            if given is not None and self.type != ParamType.VALUE:
                raise ValueError(f"param {self.name!r}: only value parameters take a {field}")
        return self


SINK_RULE = "self.type != 'sink' || !has(self.outputs) || size(self.outputs) == 0"


class FunctionSpec(ApiModel):
    """A Python callable, its typed parameters and its named outputs."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": SINK_RULE,
                    "message": "a sink declares no outputs",
                    "fieldPath": ".outputs",
                }
            ]
        }
    )

    handler: Identifier
    """The callable's name in the code."""
    description: str | None = Field(default=None, max_length=DESCRIPTION_LENGTH)
    """What it does, for people."""
    type: FunctionType = FunctionType.TRANSFORMER
    """source, transformer or sink."""
    code: FunctionCode
    """Where the code is."""
    params: list[Param] = Field(default=[], max_length=MAX_PARAMS)
    """The callable's parameters, in order; at most 256."""
    outputs: list[DataName] = Field(default=[], max_length=MAX_PARAMS)
    """Names of what it returns: one name is the return value; several are a tuple in
    this order or a dict by name; none (sinks) means the return value is ignored."""
    image: str | None = Field(default=None, min_length=1, max_length=IMAGE_LENGTH)
    """The container image; the operator's default runner image when left out."""
    resources: ResourceRequirements | None = None
    """CPU and memory requests and limits for its container."""
    env: list[EnvVar] = Field(default=[], max_length=MAX_ENV)
    """Environment variables for its container."""
    cache: bool = True
    """false for a function with side effects (it sends mail, writes a database): a Run
    with the cache on runs it every time instead of reusing an earlier result.
    resumeFrom still reuses it, since resuming means not doing again what was done."""

    @model_validator(mode="after")
    def sinks_return_nothing(self) -> Self:
        if self.type == FunctionType.SINK and self.outputs:
            raise ValueError(
                "a sink declares no outputs (its return value is ignored);"
                " remove outputs or make it a transformer"
            )
        return self

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)


class FunctionStatus(ApiModel):
    conditions: list[Condition] = []
    """Ready: the code parses and defines the handler with the declared parameters."""
    observed_generation: int | None = None
    """The metadata.generation this status describes."""


class Function(ApiModel):
    api_version: str = "headwater.dev/v1alpha1"
    kind: Literal["Function"] = "Function"
    metadata: ObjectMeta
    spec: FunctionSpec
    status: FunctionStatus | None = None
