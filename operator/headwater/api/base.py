"""The base every resource model shares: camelCase on the wire, documented fields."""

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainSerializer
from pydantic.alias_generators import to_camel

GROUP = "headwater.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with second precision, as Kubernetes writes timestamps."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


Timestamp = Annotated[datetime, PlainSerializer(format_time, return_type=str)]
"""A point in time; serialised the way Kubernetes writes it."""

JsonValue = Any
"""Any JSON value: number, string, boolean, null, list or object."""


class ApiModel(BaseModel):
    """Base of the wire models: camelCase aliases, attribute docstrings as descriptions."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        use_attribute_docstrings=True,
        extra="forbid",
    )

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready dict Kubernetes stores: camelCase keys, unset fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def exactly_one_of(*fields: str) -> ConfigDict:
    """Model config that makes the generated CRD accept exactly one of `fields` (wire
    names), so the API server rejects the rest at apply time. A schema `oneOf` of
    `required` rather than a CEL rule, because CEL cannot see fields of free-form JSON
    (`inline`, `value`)."""
    return ConfigDict(json_schema_extra={"oneOf": [{"required": [f]} for f in fields]})


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
