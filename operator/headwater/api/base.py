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


def cel_rules(*rules: tuple[str, str]) -> ConfigDict:
    """Model config carrying CEL rules (rule, message) into the generated CRD, so the API
    server rejects at apply time what a schema alone cannot say."""
    return ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [{"rule": r, "message": m} for r, m in rules]
        }
    )


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
