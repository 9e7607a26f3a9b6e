"""Read the manifests a user would `kubectl apply`: files and folders of multi-document
YAML holding our four kinds plus the ConfigMaps and Secrets they refer to."""

import base64
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from headwater.api import API_VERSION, RESOURCE_KINDS, Dataflow, Dataset, Function, Run

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""LibYAML when PyYAML has it: the pure-Python loader takes quadratic time in nesting
(seconds at 2,000 levels, minutes at the API server's 10,000) and recurses three frames a
level; LibYAML refuses more than 1,000 levels with a YAMLError."""


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
            documents = list(yaml.load_all(file.read_text(), Loader=YamlLoader))
        except (OSError, yaml.YAMLError) as error:
            problems.append(ManifestProblem(Origin(file, 1), "", f"cannot read: {error}"))
            continue
        for index, document in enumerate(documents, start=1):
            if document is None:
                continue
            problems.extend(_add_document(loaded, document, Origin(file, index)))
    if problems:
        raise ManifestError(problems)
    return loaded


def _add_document(loaded: Manifests, document: Any, origin: Origin) -> list[ManifestProblem]:
    if not isinstance(document, dict):
        return [ManifestProblem(origin, "", "a manifest must be a mapping")]
    kind = document.get("kind")
    name = (document.get("metadata") or {}).get("name")
    if document.get("apiVersion") == "v1" and kind in ("ConfigMap", "Secret"):
        return _add_key_values(loaded, document, kind, origin)
    if kind not in RESOURCE_KINDS or document.get("apiVersion") != API_VERSION:
        # Other Kubernetes objects may share the folder; they are not ours to read.
        return []
    model: type[BaseModel] = RESOURCE_KINDS[kind]
    try:
        resource = model.model_validate(document)
    except ValidationError as error:
        return [
            ManifestProblem(origin, field_path(e["loc"]), f"{kind} {name}: {e['msg']}")
            for e in error.errors()
        ]
    table: dict[str, Any] = {
        "Dataset": loaded.datasets,
        "Function": loaded.functions,
        "Dataflow": loaded.dataflows,
        "Run": loaded.runs,
    }[kind]
    if name in table:
        first = loaded.origins[(kind, name)]
        return [ManifestProblem(origin, "metadata.name", f"{kind} {name} already in {first}")]
    table[name] = resource
    loaded.origins[(kind, name)] = origin
    return []


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
        elif part in ("list[str]", "dict[str,str]") or "[" in str(part):
            continue  # pydantic names the union member it tried; users never wrote it
        else:
            text += f".{part}" if text else str(part)
    return text
