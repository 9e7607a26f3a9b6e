"""The parts of Kubernetes objects our resources carry or refer to."""

from typing import Annotated, Any

from pydantic import ConfigDict, Field

from headwater.api.base import ApiModel

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

ResourceName = Annotated[str, Field(min_length=1, max_length=253, pattern=DNS_SUBDOMAIN)]
"""The name of another object in the same namespace."""


class ObjectMeta(ApiModel):
    """The metadata headwater reads; everything else Kubernetes keeps is passed over."""

    model_config = ConfigDict(extra="ignore")

    name: str
    """Unique within the namespace."""
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
    key: str = Field(min_length=1, max_length=253)
    """The key within its data (or binaryData)."""


class EnvVar(ApiModel):
    """An environment variable for a node's container, as in a Pod spec."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1)
    """The variable's name."""
    value: str | None = None
    """Its literal value; `$(VAR)` references expand as in a Pod."""
    value_from: dict[str, Any] | None = None
    """A source for the value (secretKeyRef, configMapKeyRef, fieldRef), as in a Pod."""


Quantity = int | str


class ResourceRequirements(ApiModel):
    """Compute resources for a node's container, as in a Pod spec."""

    requests: dict[str, Quantity] = {}
    """Minimum resources, e.g. {cpu: 250m, memory: 512Mi}."""
    limits: dict[str, Quantity] = {}
    """Maximum resources."""
