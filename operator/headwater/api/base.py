"""The base every resource model shares: camelCase on the wire, documented fields."""

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer
from pydantic.alias_generators import to_camel

from headwater.deepjson import json_problem
from headwater.limits import JSON_BYTES, JSON_DEPTH

GROUP = "headwater.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with second precision, as Kubernetes writes timestamps."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


Timestamp = Annotated[datetime, PlainSerializer(format_time, return_type=str)]
"""A point in time; serialised the way Kubernetes writes it."""


def bounded_json(value: Any) -> Any:
    """The first look at a free-form value: within JSON_DEPTH and JSON_BYTES, checked
    without recursing, before pydantic or anything else walks it."""
    problem = json_problem(value, JSON_DEPTH, JSON_BYTES)
    if problem:
        raise ValueError(problem)
    return value


JsonValue = Annotated[Any, BeforeValidator(bounded_json)]
"""Any JSON value (number, string, boolean, null, list or object) nested at most
JSON_DEPTH deep and at most JSON_BYTES long."""


class ApiModel(BaseModel):
    """Base of the wire models: camelCase aliases, attribute docstrings as descriptions."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        use_attribute_docstrings=True,
        extra="forbid",
        # Errors name the field, never echo the value: it may be a secret, or nested so
        # deep that printing it recurses thousands of times.
        hide_input_in_errors=True,
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
