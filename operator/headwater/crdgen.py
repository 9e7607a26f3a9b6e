"""Generate the CustomResourceDefinitions from the pydantic models.

The models are the single source of truth; this turns their JSON schema into the
structural OpenAPI v3 schema Kubernetes wants (no $ref, no anyOf-with-null, no titles),
and adds what only a CRD has: scope, names, printer columns, the status subresource.
"""

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from headwater.api import GROUP, VERSION, Dataflow, Dataset, Function, Run
from headwater.api.base import ApiModel

CATEGORY = "headwater"
BOUNDS = (
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
)


@dataclass(frozen=True)
class Column:
    name: str
    json_path: str
    type: str = "string"
    description: str = ""
    priority: int = 0


def ready_column() -> Column:
    return Column(
        "Ready", '.status.conditions[?(@.type=="Ready")].status', description="Ready condition"
    )


AGE = Column("Age", ".metadata.creationTimestamp", "date")


@dataclass(frozen=True)
class Kind:
    model: type[ApiModel]
    plural: str
    short_names: tuple[str, ...]
    columns: tuple[Column, ...]
    rules: tuple[dict[str, str], ...] = ()
    """CEL rules on the whole object."""
    defaults: tuple[str, ...] = ()
    """Dotted field paths whose model default the API server fills in, so that
    `kubectl get` shows it (printer columns read the stored object)."""

    @property
    def name(self) -> str:
        return self.model.__name__


KINDS = (
    Kind(
        Dataset,
        "datasets",
        ("hwds",),
        (
            ready_column(),
            Column("Format", ".status.format"),
            Column("Size", ".status.size", "integer"),
            Column("URI", ".status.uri", priority=1),
            AGE,
        ),
    ),
    Kind(
        Function,
        "functions",
        ("hwfn",),
        (
            Column("Handler", ".spec.handler"),
            Column("Type", ".spec.type"),
            ready_column(),
            Column("Image", ".spec.image", priority=1),
            AGE,
        ),
        defaults=("spec.type",),
    ),
    Kind(
        Dataflow,
        "dataflows",
        ("hwdf",),
        (
            Column("Nodes", ".status.nodeCount", "integer"),
            Column("Depth", ".status.depth", "integer"),
            ready_column(),
            AGE,
        ),
    ),
    Kind(
        Run,
        "runs",
        ("hwrun",),
        (
            Column("Dataflow", ".spec.dataflow"),
            Column("Phase", ".status.phase"),
            Column("Progress", ".status.progress", description="succeeded nodes / all"),
            Column("Failed", ".status.nodeCounts.failed", "integer"),
            Column("Skipped", ".status.nodeCounts.skipped", "integer", priority=1),
            AGE,
            Column("Duration", ".status.duration"),
            Column(
                "Message",
                '.status.conditions[?(@.type=="Succeeded")].message',
                priority=1,
            ),
        ),
        rules=(
            {
                "rule": "size(self.metadata.name) <= 63",
                "message": "a Run's name is at most 63 characters, as it labels its Jobs",
            },
        ),
    ),
)


def structural(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Rewrite one pydantic JSON-schema node into a Kubernetes structural schema node."""
    if "$ref" in schema:
        target = defs[schema["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        return structural(merged, defs)
    if "anyOf" in schema:
        return _union(schema, defs)
    out: dict[str, Any] = {}
    if "description" in schema:
        out["description"] = schema["description"]
    if "enum" in schema:
        out["type"] = "string"
        out["enum"] = list(schema["enum"])
    elif "type" not in schema:
        out["x-kubernetes-preserve-unknown-fields"] = True
    else:
        out["type"] = schema["type"]
    for key in BOUNDS:
        if key in schema:
            out[key] = schema[key]
    if "format" in schema and schema["format"] == "date-time":
        out["format"] = "date-time"
    if schema.get("type") == "object":
        if "properties" in schema:
            out["properties"] = {
                name: structural(sub, defs) for name, sub in schema["properties"].items()
            }
        extra = schema.get("additionalProperties")
        if "patternProperties" in schema:
            (key_pattern, extra), *_ = schema["patternProperties"].items()
            out["x-kubernetes-validations"] = [_key_rule(key_pattern, schema["propertyNames"])]
        if isinstance(extra, dict) and extra:
            out["additionalProperties"] = structural(extra, defs)
        elif extra is True or ("properties" not in schema and extra is None) or extra == {}:
            out["x-kubernetes-preserve-unknown-fields"] = True
        if schema.get("required"):
            out["required"] = list(schema["required"])
    if schema.get("type") == "array" and "items" in schema:
        out["items"] = structural(schema["items"], defs)
    if "oneOf" in schema:
        out["oneOf"] = schema["oneOf"]
    if "x-kubernetes-validations" in schema:
        out["x-kubernetes-validations"] = [
            *out.get("x-kubernetes-validations", []),
            *schema["x-kubernetes-validations"],
        ]
    if "description" in out:
        out["description"] += _bounds_note(out)
    return out


def _key_rule(pattern: str, lengths: dict[str, int]) -> dict[str, str]:
    """A map's keys as a CEL rule: structural schemas have no propertyNames. Its cost
    stays within the API server's budget because every such map has maxProperties."""
    checks = [f"k.matches(r'{pattern}')"]
    if "maxLength" in lengths:
        checks.insert(0, f"size(k) <= {lengths['maxLength']}")
    return {
        "rule": f"self.all(k, {' && '.join(checks)})",
        "message": f"every key must match {pattern}, at most {lengths.get('maxLength')} characters",
    }


def _bounds_note(schema: dict[str, Any]) -> str:
    """The bounds in words, so `kubectl explain` shows them beside the description."""
    words = {
        "maxLength": " At most {} characters.",
        "maxItems": " At most {} items.",
        "maxProperties": " At most {} entries.",
    }
    return "".join(text.format(schema[key]) for key, text in words.items() if key in schema)


def _union(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Optional fields (X | None) become X; int | str becomes int-or-string; any other
    union (a list or a map) keeps its value as written, checked by the operator."""
    members = [m for m in schema["anyOf"] if m.get("type") != "null"]
    rest = {k: v for k, v in schema.items() if k not in ("anyOf", "title", "default")}
    if len(members) == 1:
        return structural({**members[0], **rest}, defs)
    out: dict[str, Any] = {"description": rest["description"]} if "description" in rest else {}
    if {m.get("type") for m in members} == {"integer", "string"}:
        out["x-kubernetes-int-or-string"] = True
        text = next(m for m in members if m["type"] == "string")
        out.update({key: text[key] for key in ("maxLength", "pattern") if key in text})
    else:
        out["x-kubernetes-preserve-unknown-fields"] = True
    return out


def openapi_schema(kind: Kind) -> dict[str, Any]:
    model = kind.model
    raw = model.model_json_schema(by_alias=True)
    defs = raw.get("$defs", {})
    top = structural(raw, defs)
    properties = top["properties"]
    properties["apiVersion"] = {"type": "string", "description": "headwater.dev/v1alpha1"}
    properties["kind"] = {"type": "string", "description": model.__name__}
    properties["metadata"] = {"type": "object"}
    top.pop("required", None)
    top["required"] = ["spec"]
    if kind.rules:
        top["x-kubernetes-validations"] = list(kind.rules)
    for path in kind.defaults:
        _property(top, path)["default"] = _model_default(model, path)
    return top


def _property(schema: dict[str, Any], path: str) -> dict[str, Any]:
    for name in path.split("."):
        schema = schema["properties"][name]
    return schema


def _model_default(model: type[BaseModel], path: str) -> Any:
    *parents, last = path.split(".")
    for name in parents:
        model = model.model_fields[name].annotation  # type: ignore[assignment]
    default = model.model_fields[last].default
    return default.value if isinstance(default, Enum) else default


def crd(kind: Kind) -> dict[str, Any]:
    singular = kind.name.lower()
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{kind.plural}.{GROUP}",
            "labels": {
                "app.kubernetes.io/name": "headwater",
                "app.kubernetes.io/part-of": "headwater",
            },
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind.name,
                "listKind": f"{kind.name}List",
                "plural": kind.plural,
                "singular": singular,
                "shortNames": list(kind.short_names),
                "categories": [CATEGORY],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [_column(c) for c in kind.columns],
                    "schema": {"openAPIV3Schema": openapi_schema(kind)},
                }
            ],
        },
    }


def _column(column: Column) -> dict[str, Any]:
    out: dict[str, Any] = {"name": column.name, "type": column.type, "jsonPath": column.json_path}
    if column.description:
        out["description"] = column.description
    if column.priority:
        out["priority"] = column.priority
    return out


def render(kind: Kind) -> str:
    header = "# Generated by `headwater crds` from headwater.api; do not edit.\n"
    return header + yaml.safe_dump(crd(kind), sort_keys=False, width=100, allow_unicode=True)


def rendered_files() -> dict[str, str]:
    """File name → content, one CRD per kind."""
    return {f"{kind.plural}.{GROUP}.yaml": render(kind) for kind in KINDS}


def write_crds(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in rendered_files().items():
        path = folder / name
        path.write_text(content)
        written.append(path)
    return written
