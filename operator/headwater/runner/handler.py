"""Loading the user's callable: from source text or an importable module.

This is the only place user code is executed; the operator only ever parses it.
"""

import importlib
import linecache
import sys
import traceback
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from headwater.runner.errors import CodeUnusable
from headwater.task import Task


def print_traceback(error: BaseException, frames: types.TracebackType | None) -> str:
    """Print the traceback on stderr, from `frames` on, and return it for the attempt's
    record."""
    text = "".join(traceback.format_exception(type(error), error, frames))
    sys.stderr.write(text)
    sys.stderr.flush()
    return text


def last_lines(error: BaseException) -> str:
    """The end of a traceback: `ValueError: bad radar` (several lines for a SyntaxError)."""
    return "".join(traceback.format_exception_only(error)).strip()


def raised_at(error: BaseException, filename: str) -> str:
    """Where in the user's file the error came from: the innermost frame there (the line
    that called into pandas, say, rather than pandas' own), with its source line."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == filename]
    if not frames:
        return ""
    frame = frames[-1]
    line = (frame.line or "").strip()
    return f"{filename}, line {frame.lineno}" + (f": {line}" if line else "")


def failure_message(error: BaseException, filename: str) -> str:
    """The traceback's last line, and where in the user's code it happened."""
    where = raised_at(error, filename)
    return f"{last_lines(error)} (at {where})" if where else last_lines(error)


def module_from_source(code: str, node: str, filename: str | None = None) -> types.ModuleType:
    """Execute `code` in a fresh module named after the node; tracebacks call the source
    `filename` (the ConfigMap key it came from, say)."""
    filename = filename or f"<node {node}>"
    # Registered with linecache so tracebacks through user code show its source lines;
    # no modification time, so that linecache never swaps in a local file of that name.
    linecache.cache[filename] = (len(code), None, code.splitlines(keepends=True), filename)
    module = types.ModuleType(f"headwater_function_{node.replace('-', '_')}")
    module.__file__ = filename
    try:
        compiled = compile(code, filename, "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
        # Nesting too deep for the compiler is as fatal as a syntax error.
        raise CodeUnusable(f"the function's code does not compile: {last_lines(error)}") from error
    try:
        exec(compiled, module.__dict__)
    except Exception as error:
        # A module body that fails (a missing package, a bad constant) fails every attempt.
        printed = print_traceback(error, error.__traceback__)
        message = failure_message(error, filename)
        raise CodeUnusable(f"the function's code failed to load: {message}", printed) from error
    return module


def import_module(name: str) -> types.ModuleType:
    try:
        return importlib.import_module(name)
    except Exception as error:
        printed = print_traceback(error, error.__traceback__)
        raise CodeUnusable(f"cannot import module {name}: {last_lines(error)}", printed) from error


def load_handler(task: Task) -> Callable[..., Any]:
    """The task's handler, from its code or its module."""
    if task.code is None and task.code_file:
        try:
            task = task.model_copy(update={"code": Path(task.code_file).read_text()})
        except OSError as error:
            raise CodeUnusable(f"cannot read the function's code: {error}") from error
    if task.code is not None:
        module = module_from_source(task.code, task.node, task.filename)
        origin = "the function's code"
    elif task.module:
        module = import_module(task.module)
        origin = f"module {task.module}"
    else:
        raise CodeUnusable("the task has neither code nor module")
    handler = getattr(module, task.handler, None)
    if handler is None:
        raise CodeUnusable(f"{origin} defines no {task.handler!r}")
    if not callable(handler):
        raise CodeUnusable(f"{task.handler!r} in {origin} is not callable")
    return handler
