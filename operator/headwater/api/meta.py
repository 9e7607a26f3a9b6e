"""The parts of Kubernetes objects our resources carry or refer to."""

from typing import Annotated, Self

from pydantic import ConfigDict, Field, model_validator

from headwater.api.base import ApiModel, exactly_one_of
from headwater.limits import (
    DATA_NAME,
    DATA_NAME_LENGTH,
    ENV_NAME_LENGTH,
    ENV_VALUE_LENGTH,
    IDENTIFIER_LENGTH,
    KEY_LENGTH,
    MAX_RESOURCES,
    NAME_LENGTH,
    QUANTITY_LENGTH,
    RUN_NAME_LENGTH,
)

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
CONFIG_KEY = r"^[-._a-zA-Z0-9]+$"
"""A ConfigMap or Secret key, as Kubernetes validates them."""
QUALIFIED_NAME = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
"""A resource name such as cpu, memory or nvidia.com/gpu."""
QUANTITY = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
"""A Kubernetes quantity: 250m, 1.5, 512Mi, 1e3."""
PYTHON_IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"
RELAXED_ENV_NAME = r"^[ -<>-~]+$"
"""Printable ASCII but `=`, as Kubernetes 1.32+ accepts (RelaxedEnvironmentVariableValidation)."""

ResourceName = Annotated[str, Field(min_length=1, max_length=NAME_LENGTH, pattern=DNS_SUBDOMAIN)]
"""The name of another object in the same namespace."""
RunName = Annotated[str, Field(min_length=1, max_length=RUN_NAME_LENGTH, pattern=DNS_SUBDOMAIN)]
"""The name of a Run, which labels its Jobs."""
Quantity = (
    Annotated[int, Field(strict=True)]
    | Annotated[str, Field(max_length=QUANTITY_LENGTH, pattern=QUANTITY)]
)
"""A number, or a Kubernetes quantity as a string; strict, or a string of digits too
long for the CRD would pass as a number."""
Identifier = Annotated[
    str, Field(min_length=1, max_length=IDENTIFIER_LENGTH, pattern=PYTHON_IDENTIFIER)
]
"""A Python name: a handler, a parameter."""
DataName = Annotated[str, Field(min_length=1, max_length=DATA_NAME_LENGTH, pattern=DATA_NAME)]
"""A name that wires nodes: an output, an input, a Run parameter key."""


class ObjectMeta(ApiModel):
    """The metadata headwater reads; everything else Kubernetes keeps is passed over."""

    model_config = ConfigDict(extra="ignore")

    name: ResourceName
    """Unique within the namespace; a DNS subdomain, as the API server requires (locally
    it names folders, so it must not be a path either)."""
    namespace: str | None = None
    """The namespace the object lives in; the local executor uses none."""
    generation: int | None = None
    """Bumped by the API server on every change to spec."""
    uid: str | None = None
    """Set by the API server; owner references point at it."""
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}


class KeyRef(ApiModel):
    """A key of a ConfigMap or Secret in the same namespace."""

    name: ResourceName
    """The ConfigMap's or Secret's name."""
    key: str = Field(min_length=1, max_length=KEY_LENGTH, pattern=CONFIG_KEY)
    """The key within its data (or binaryData)."""


class EnvKeyRef(KeyRef):
    """A ConfigMap or Secret key for an environment variable, as in a Pod spec."""

    optional: bool | None = None
    """true: start the container even when the key or its object is missing."""


class FieldRef(ApiModel):
    """A field of the node's Pod, as in a Pod spec."""

    field_path: str = Field(min_length=1, max_length=256)
    """e.g. metadata.name, status.podIP."""
    api_version: str | None = Field(default=None, max_length=64)
    """The version fieldPath is written in; v1 when left out."""


class ResourceFieldRef(ApiModel):
    """A resource request or limit of the node's container, as in a Pod spec."""

    resource: str = Field(min_length=1, max_length=NAME_LENGTH)
    """e.g. limits.cpu, requests.memory."""
    container_name: str | None = Field(default=None, max_length=63)
    """The container; the node's own when left out."""
    divisor: Quantity | None = None
    """The unit the value is given in, e.g. 1Mi."""


class EnvVarSource(ApiModel):
    """Where an environment variable's value comes from: exactly one source."""

    model_config = exactly_one_of("configMapKeyRef", "secretKeyRef", "fieldRef", "resourceFieldRef")

    config_map_key_ref: EnvKeyRef | None = None
    """A key of a ConfigMap in the same namespace."""
    secret_key_ref: EnvKeyRef | None = None
    """A key of a Secret in the same namespace."""
    field_ref: FieldRef | None = None
    """A field of the Pod."""
    resource_field_ref: ResourceFieldRef | None = None
    """A resource of the container."""

    @model_validator(mode="after")
    def exactly_one(self) -> Self:
        given = [name for name, value in self if value is not None]
        if len(given) != 1:
            raise ValueError(
                "valueFrom needs exactly one of configMapKeyRef, secretKeyRef, fieldRef,"
                f" resourceFieldRef; got {len(given)}"
            )
        return self


class EnvVar(ApiModel):
    """An environment variable for a node's container, as in a Pod spec."""

    name: str = Field(min_length=1, max_length=ENV_NAME_LENGTH, pattern=RELAXED_ENV_NAME)
    """The variable's name."""
    value: str | None = Field(default=None, max_length=ENV_VALUE_LENGTH)
    """Its literal value; `$(VAR)` references expand as in a Pod."""
    value_from: EnvVarSource | None = None
    """A source for the value (secretKeyRef, configMapKeyRef, fieldRef, resourceFieldRef),
    as in a Pod."""


ResourceQuantities = Annotated[
    dict[
        Annotated[str, Field(max_length=NAME_LENGTH, pattern=QUALIFIED_NAME)],
        Quantity,
    ],
    Field(max_length=MAX_RESOURCES),
]


class ResourceRequirements(ApiModel):
    """Compute resources for a node's container, as in a Pod spec."""

    requests: ResourceQuantities = {}
    """Minimum resources, e.g. {cpu: 250m, memory: 512Mi}."""
    limits: ResourceQuantities = {}
    """Maximum resources."""
