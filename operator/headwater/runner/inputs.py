"""Resolving each task input into the argument the function receives, by parameter type:
path → a local file path, artifact → the loaded object, value → the JSON value."""

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from posixpath import basename

from headwater.api.function import ParamType
from headwater.artifacts import (
    ArtifactError,
    DataUnavailable,
    StorageOptions,
    UnreadableData,
    artifact_data_path,
    is_local,
    load_data,
    local_path,
    read_artifact,
)
from headwater.artifacts.urls import open_filesystem
from headwater.runner.errors import InputUnavailable, InvalidTask, RunnerError
from headwater.task import Task, TaskInput


@contextmanager
def input_errors(param: str) -> Iterator[None]:
    """Store failures, re-raised with the parameter's name: missing or unreadable data is
    bad input; other I/O errors may pass on a retry."""
    try:
        yield
    except (DataUnavailable, UnreadableData) as error:
        raise InputUnavailable(f"input {param}: {error}") from error
    except ArtifactError as error:
        raise RunnerError(f"input {param}: {error}") from error


def check_single_source(task_input: TaskInput) -> None:
    sources = [
        name
        for name, given in (
            ("datasetUri", task_input.dataset_uri is not None),
            ("artifactUri", task_input.artifact_uri is not None),
            ("value", task_input.has_value),
        )
        if given
    ]
    if len(sources) != 1:
        found = ", ".join(sources) or "none"
        raise InvalidTask(
            f"input {task_input.param} needs exactly one of datasetUri, artifactUri, value;"
            f" found {found}"
        )


def fetch_local(uri: str, storage_options: StorageOptions, download_dir: Path) -> str:
    """A local path holding the data at `uri`: the file itself when it is local, a
    downloaded copy under `download_dir` otherwise."""
    if is_local(uri):
        path = local_path(uri)
        if not os.path.exists(path):
            raise DataUnavailable(uri, "no such file")
        return path
    filesystem, remote_path = open_filesystem(uri, storage_options)
    try:
        if not filesystem.exists(remote_path):
            raise DataUnavailable(uri, "no such file")
        target = download_dir / (basename(remote_path.rstrip("/")) or "data")
        download_dir.mkdir(parents=True, exist_ok=True)
        filesystem.get(remote_path, str(target), recursive=filesystem.isdir(remote_path))
    except FileNotFoundError as error:
        raise DataUnavailable(uri, "no such file") from error
    except OSError as error:
        raise ArtifactError(uri, f"cannot download: {error}") from error
    return str(target)


def resolve_path(task_input: TaskInput, storage_options: StorageOptions, workdir: Path) -> str:
    download_dir = workdir / task_input.param
    if task_input.dataset_uri is not None:
        return fetch_local(task_input.dataset_uri, storage_options, download_dir)
    if task_input.artifact_uri is not None:
        data_uri = artifact_data_path(task_input.artifact_uri, storage_options)
        return fetch_local(data_uri, storage_options, download_dir)
    # A literal for a path parameter: the function still gets a file, holding the JSON.
    literal_file = workdir / f"{task_input.param}.json"
    literal_file.write_text(json.dumps(task_input.value), encoding="utf-8")
    return str(literal_file)


def resolve_object(task_input: TaskInput, storage_options: StorageOptions) -> object:
    """The loaded object; used for value parameters too, since a JSON dataset or a JSON
    artifact decodes to exactly the value it holds."""
    if task_input.dataset_uri is not None:
        return load_data(task_input.dataset_uri, task_input.format, storage_options)
    if task_input.artifact_uri is not None:
        return read_artifact(task_input.artifact_uri, storage_options)
    return task_input.value


def resolve_inputs(task: Task, workdir: Path) -> dict[str, object]:
    """Keyword arguments for the handler; downloads go under `workdir`, which must outlive
    the call."""
    arguments: dict[str, object] = {}
    for task_input in task.inputs:
        check_single_source(task_input)
        with input_errors(task_input.param):
            if task_input.type is ParamType.PATH:
                arguments[task_input.param] = resolve_path(
                    task_input, task.storage_options, workdir
                )
            else:
                arguments[task_input.param] = resolve_object(task_input, task.storage_options)
    return arguments
