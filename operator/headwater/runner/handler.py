"""Loading the user's callable: from source text or an importable module.

This is the only place user code is executed; the operator only ever parses it.
"""

import importlib
import linecache
import traceback
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from headwater.runner.errors import CodeUnusable
from headwater.task import Task


def last_lines(error: BaseException) -> str:
    """The end of a traceback: `ValueError: bad radar` (several lines for a SyntaxError)."""
    return "".join(traceback.format_exception_only(error)).strip()


def module_from_source(code: str, node: str) -> types.ModuleType:
    """Execute `code` in a fresh module named after the node."""
    filename = f"<function {node}>"
    # Registered with linecache so tracebacks through user code show its source lines.
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
        traceback.print_exception(error)
        raise CodeUnusable(f"the function's code failed to load: {last_lines(error)}") from error
    return module


def import_module(name: str) -> types.ModuleType:
    try:
        return importlib.import_module(name)
    except Exception as error:
        traceback.print_exception(error)
        raise CodeUnusable(f"cannot import module {name}: {last_lines(error)}") from error


def load_handler(task: Task) -> Callable[..., Any]:
    """The task's handler, from its code or its module."""
    if task.code is None and task.code_file:
        try:
            task = task.model_copy(update={"code": Path(task.code_file).read_text()})
        except OSError as error:
            raise CodeUnusable(f"cannot read the function's code: {error}") from error
    if task.code is not None:
        module = module_from_source(task.code, task.node)
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
