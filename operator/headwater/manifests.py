"""Read the manifests a user would `kubectl apply`: files and folders of multi-document
YAML holding our four kinds plus the ConfigMaps and Secrets they refer to."""

import base64
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from headwater.api import API_VERSION, AS_APPLIED, RESOURCE_KINDS, Dataflow, Dataset, Function, Run
from headwater.kubeyaml import node_at, not_as_written, read_as, read_documents

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
TEXT_ERRORS = frozenset({"string_type", "enum", "literal_error"})
"""Pydantic error types that a bare `y` or `0123` meant as text runs into."""


@dataclass(frozen=True)
class Origin:
    """Where a document came from, for error messages and relative paths."""

    file: Path
    document: int

    def __str__(self) -> str:
        return f"{self.file} (document {self.document})"


@dataclass(frozen=True)
class ManifestProblem:
    """One problem, placed where the user wrote the thing at fault."""

    origin: Origin | None
    path: str
    message: str
    resource: str = ""
    """Kind/name of the object at fault, when the message does not say it."""

    def __str__(self) -> str:
        where = ": ".join(str(part) for part in (self.origin, self.resource) if part)
        at = f" at {self.path}" if self.path else ""
        return f"{where}{at}: {self.message}"


class ManifestError(Exception):
    """Every problem found while reading manifests, reported together."""

    def __init__(self, problems: list[ManifestProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass
class Manifests:
    datasets: dict[str, Dataset] = field(default_factory=dict)
    functions: dict[str, Function] = field(default_factory=dict)
    dataflows: dict[str, Dataflow] = field(default_factory=dict)
    runs: dict[str, Run] = field(default_factory=dict)
    config_maps: dict[str, dict[str, bytes]] = field(default_factory=dict)
    secrets: dict[str, dict[str, bytes]] = field(default_factory=dict)
    origins: dict[tuple[str, str], Origin] = field(default_factory=dict)

    def origin(self, kind: str, name: str) -> Origin | None:
        return self.origins.get((kind, name))

    def folder_of(self, kind: str, name: str) -> Path:
        """The folder of the manifest that declared an object: relative URIs start there."""
        found = self.origin(kind, name)
        return found.file.parent if found else Path.cwd()


def manifest_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Files as `kubectl apply -f` takes them: a folder contributes its own files only."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.iterdir() if p.suffix in MANIFEST_SUFFIXES)
        else:
            yield path


def load_manifests(paths: Iterable[Path | str]) -> Manifests:
    """Parse every document; raise ManifestError naming each bad file, document and field."""
    loaded = Manifests()
    problems: list[ManifestProblem] = []
    for file in manifest_files(Path(p) for p in paths):
        try:
            documents = read_documents(file.read_text())
        except (OSError, yaml.YAMLError) as error:
            problems.append(ManifestProblem(Origin(file, 1), "", f"cannot read: {error}"))
            continue
        for index, (node, document) in enumerate(documents, start=1):
            if document is None:
                continue
            problems.extend(_add_document(loaded, node, document, Origin(file, index)))
    if problems:
        raise ManifestError(problems)
    return loaded


def _add_document(
    loaded: Manifests, node: yaml.Node, document: Any, origin: Origin
) -> list[ManifestProblem]:
    if not isinstance(document, dict):
        return [ManifestProblem(origin, "", "a manifest must be a mapping")]
    kind = document.get("kind")
    name = (document.get("metadata") or {}).get("name")
    resource = f"{kind}/{name}"
    ours = kind in RESOURCE_KINDS and document.get("apiVersion") == API_VERSION
    if not ours and not (document.get("apiVersion") == "v1" and kind in ("ConfigMap", "Secret")):
        # Other Kubernetes objects may share the folder; they are not ours to read.
        return []
    surprises = [
        ManifestProblem(origin, path, message, resource) for path, message in not_as_written(node)
    ]
    if surprises:
        return surprises
    if not ours:
        not_text = [
            ManifestProblem(origin, path, message, resource)
            for path, message in _values_not_text(node, document)
        ]
        return not_text or _add_key_values(loaded, document, kind, origin)
    model: type[BaseModel] = RESOURCE_KINDS[kind]
    try:
        sent = json.dumps(document)
    except TypeError as error:  # an explicit !!binary, !!set or !!timestamp
        return [ManifestProblem(origin, "", f"not JSON, so kubectl cannot send it: {error}")]
    try:
        # Strict, from JSON: the API server takes no "3" for 3 and no "yes" for true.
        parsed = model.model_validate_json(sent, strict=True, context=AS_APPLIED)
    except ValidationError as error:
        return [
            ManifestProblem(origin, path, message, resource)
            for path, message in _errors(node, error)
        ]
    table: dict[str, Any] = {
        "Dataset": loaded.datasets,
        "Function": loaded.functions,
        "Dataflow": loaded.dataflows,
        "Run": loaded.runs,
    }[kind]
    if name in table:
        first = loaded.origins[(kind, name)]
        return [ManifestProblem(origin, "metadata.name", f"already in {first}", resource)]
    table[name] = parsed
    loaded.origins[(kind, name)] = origin
    return []


def _errors(node: yaml.Node, error: ValidationError) -> list[tuple[str, str]]:
    """Pydantic's errors at their field paths; a bool or number where a name belongs
    says what to quote instead, and the other members of its union keep quiet."""
    quoted: dict[tuple[Any, ...], tuple[str, str]] = {}
    plain: list[tuple[tuple[Any, ...], str, str]] = []
    for e in error.errors():
        path = field_path(e["loc"])
        scalar = node_at(node, e["loc"])
        hint = read_as(scalar) if e["type"] in TEXT_ERRORS and scalar is not None else None
        if hint is not None:
            quoted.setdefault(_union_base(e["loc"]), (path, hint))
        else:
            plain.append((_union_base(e["loc"]), path, e["msg"]))
    return [*quoted.values(), *((path, msg) for base, path, msg in plain if base not in quoted)]


def _union_base(location: tuple[Any, ...]) -> tuple[Any, ...]:
    """The location up to the union member pydantic tried, or all of it."""
    for i, part in enumerate(location):
        if _is_union_member(part):
            return location[:i]
    return location


def _values_not_text(node: yaml.Node, document: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """A ConfigMap's or Secret's values are strings to the API server: `on` is not."""
    for section in ("data", "stringData", "binaryData"):
        values = document.get(section)
        for key in values if isinstance(values, dict) else ():
            value = node_at(node, (section, key))
            hint = read_as(value) if value is not None else None
            if hint is not None:
                yield f"{section}.{key}", hint


def _add_key_values(
    loaded: Manifests, document: dict[str, Any], kind: str, origin: Origin
) -> list[ManifestProblem]:
    name = (document.get("metadata") or {}).get("name")
    if not name:
        return [ManifestProblem(origin, "metadata.name", f"{kind} needs a name")]
    values: dict[str, bytes] = {}
    try:
        for key, text in (document.get("stringData") or {}).items():
            values[key] = str(text).encode()
        for key, text in (document.get("data") or {}).items():
            values[key] = base64.b64decode(text) if kind == "Secret" else str(text).encode()
        for key, text in (document.get("binaryData") or {}).items():
            values[key] = base64.b64decode(text)
    except (ValueError, AttributeError) as error:
        return [ManifestProblem(origin, "data", f"{kind} {name}: {error}")]
    (loaded.config_maps if kind == "ConfigMap" else loaded.secrets)[name] = values
    loaded.origins[(kind, name)] = origin
    return []


def field_path(location: Iterable[str | int]) -> str:
    """('spec', 'nodes', 2, 'inputs') → 'spec.nodes[2].inputs'."""
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _is_union_member(part):
            continue  # pydantic names the union member it tried; users never wrote it
        else:
            text += f".{part}" if text else str(part)
    return text


def _is_union_member(part: str | int) -> bool:
    return isinstance(part, str) and "[" in part
