"""Reading the task file the executor wrote: JSON or YAML of a Task, camelCase."""

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from headwater.runner.errors import InvalidTask
from headwater.task import Task


def read_task_document(path: str | Path) -> Any:
    """The decoded document; JSON first (what executors write), YAML for people."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise InvalidTask(f"cannot read task file {path}: {error}") from error
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise InvalidTask(f"task file {path} is neither JSON nor YAML: {error}") from error


def parse_task(document: Any, source: str = "task") -> Task:
    try:
        return Task.model_validate(document)
    except ValidationError as error:
        raise InvalidTask(f"invalid {source}: {error}") from error


def load_task(path: str | Path) -> Task:
    """The Task in the file at `path`."""
    return parse_task(read_task_document(path), source=f"task file {path}")
