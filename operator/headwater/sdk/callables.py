"""From a Python function to what a Function declares: parameters from the signature and
type hints, outputs from `outputs=`, the return annotation or what the function returns,
and — for a function that travels alone — its source with the imports it needs.

A function that travels alone (`Function.from_callable`) runs in a node where nothing
of the notebook or module that defined it exists. Its free names are read from the code
(`symtable`), and each must be a builtin, a module, or an object importable from a module
other than the function's own; anything else is refused with a message naming it, before
a node fails with a NameError.
"""

import ast
import builtins
import inspect
import json
import os
import pathlib
import symtable
import sys
import textwrap
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import PydanticSchemaGenerationError, TypeAdapter

from headwater.api import Param, ParamType
from headwater.artifacts import is_json_value

VALUE_TYPES = (int, float, str, bool, list, dict, tuple)
"""Hints whose values travel as JSON: a `value` parameter with a schema from the hint."""


class UnportableFunction(ValueError):
    """A Python function that cannot become a Function as it is; the message says why and
    what to do."""


@dataclass(frozen=True)
class Declaration:
    handler: str
    params: list[Param]
    outputs: list[str]
    description: str | None


def declare(
    fn: Callable[..., Any],
    outputs: str | Sequence[str] | None = None,
    params: Mapping[str, str | ParamType] | None = None,
    definition: ast.FunctionDef | ast.AsyncFunctionDef | None = None,
) -> Declaration:
    """What `fn` declares; `params` overrides the type of parameters by name, `definition`
    is its parsed source when the caller has it (the return statements name outputs)."""
    name = fn.__name__
    if name == "<lambda>":
        raise UnportableFunction("a lambda has no name to be called by: define it with def")
    hints = _hints(fn)
    overrides = {key: ParamType(value) for key, value in (params or {}).items()}
    signature = inspect.signature(fn)
    unknown = sorted(set(overrides) - set(signature.parameters))
    if unknown:
        raise UnportableFunction(f"{name}() has no parameter {', '.join(map(repr, unknown))}")
    declared = [
        _param(name, parameter, hints.get(parameter.name), overrides.get(parameter.name))
        for parameter in signature.parameters.values()
    ]
    if definition is None:
        definition = _definition(fn)
    return Declaration(
        handler=name,
        params=declared,
        outputs=_outputs(fn, hints, outputs, definition),
        description=_summary(fn),
    )


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn, include_extras=True)
    except Exception:  # a hint naming something not importable here: go by what resolves
        return {}


def _param(
    function: str, parameter: inspect.Parameter, hint: Any, override: ParamType | None
) -> Param:
    where = f"{function}() parameter {parameter.name!r}"
    if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
        raise UnportableFunction(
            f"{where}: headwater passes each parameter by name, so *args and **kwargs"
            " receive nothing; name the parameters"
        )
    if parameter.kind is inspect.Parameter.POSITIONAL_ONLY:
        raise UnportableFunction(f"{where} is positional-only; headwater passes it by name")
    default = None if parameter.default in (inspect.Parameter.empty, None) else parameter.default
    kind = override or _kind(hint, default)
    if kind is not ParamType.VALUE:
        # Only value parameters take a default; a path or artifact is always bound.
        return Param(name=parameter.name, type=kind)
    return Param(
        name=parameter.name,
        type=kind,
        default=_json_default(where, default),
        schema=_schema(hint) if hint is not None else None,
    )


def _kind(hint: Any, default: object) -> ParamType:
    if hint is not None:
        if _is_path(hint):
            return ParamType.PATH
        if _is_value(hint):
            return ParamType.VALUE
        return ParamType.ARTIFACT
    return ParamType.VALUE if default is not None and _jsonable(default) else ParamType.ARTIFACT


def _members(hint: Any) -> list[Any]:
    """The types a hint allows: Annotated and Optional unwrapped, a Union split."""
    if typing.get_origin(hint) is typing.Annotated:
        return _members(typing.get_args(hint)[0])
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(hint) for m in _members(arg) if m is not type(None)]
    return [hint]


def _is_path(hint: Any) -> bool:
    members = _members(hint)
    return bool(members) and all(
        isinstance(m, type) and issubclass(m, pathlib.PurePath | os.PathLike) for m in members
    )


def _is_value(hint: Any) -> bool:
    def plain(member: Any) -> bool:
        origin = typing.get_origin(member) or member
        return origin is typing.Literal or origin in VALUE_TYPES

    members = _members(hint)
    return bool(members) and all(plain(m) for m in members)


def _schema(hint: Any) -> dict[str, Any] | None:
    """The hint's JSON Schema as pydantic writes it (`float` → {type: number}, bounds from
    `Annotated[float, Field(ge=0)]`)."""
    try:
        return TypeAdapter(hint).json_schema()
    except (PydanticSchemaGenerationError, TypeError, ValueError):
        return None


def _jsonable(value: object) -> bool:
    try:
        return is_json_value(json.loads(json.dumps(value, allow_nan=False)))
    except (TypeError, ValueError):
        return False


def _json_default(where: str, default: object) -> object:
    if default is None:
        return None
    if not _jsonable(default):
        raise UnportableFunction(
            f"{where}: its default {default!r} is not a JSON value, which is what a value"
            " parameter's default must be"
        )
    return json.loads(json.dumps(default))


def _outputs(
    fn: Callable[..., Any],
    hints: Mapping[str, Any],
    outputs: str | Sequence[str] | None,
    definition: ast.FunctionDef | ast.AsyncFunctionDef | None,
) -> list[str]:
    """`outputs=`; else a NamedTuple's fields or a TypedDict's keys; none for `-> None`;
    else the names the function returns (`return df_radar, df_grid`); else one output
    named after the function."""
    if outputs is not None:
        return [outputs] if isinstance(outputs, str) else list(outputs)
    if "return" in hints:
        hint = _members(hints["return"])[0] if _members(hints["return"]) else None
        if hint is None or hints["return"] is type(None):
            return []
        if isinstance(hint, type) and issubclass(hint, tuple) and hasattr(hint, "_fields"):
            return list(hint._fields)
        if typing.is_typeddict(hint):
            return list(typing.get_type_hints(hint))
    returned = _returned_names(definition) if definition is not None else None
    if returned is not None:
        return returned
    if "return" in hints and typing.get_origin(hints["return"]) is tuple:
        arity = [a for a in typing.get_args(hints["return"]) if a is not Ellipsis]
        if len(arity) > 1:
            raise UnportableFunction(
                f"{fn.__name__}() returns a tuple of {len(arity)}: name its outputs with"
                f" outputs=[…] ({len(arity)} names), or return a NamedTuple"
            )
    return [fn.__name__]


def _returned_names(definition: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str] | None:
    """[] when no return statement returns anything; the names when every one returns
    the same names (`return X` or `return a, b`); None otherwise."""
    shapes: set[tuple[str, ...] | None] = set()
    for statement in _own_returns(definition):
        value = statement.value
        if isinstance(value, ast.Name):
            shapes.add((value.id,))
        elif isinstance(value, ast.Tuple) and all(isinstance(e, ast.Name) for e in value.elts):
            shapes.add(tuple(e.id for e in value.elts if isinstance(e, ast.Name)))
        else:
            shapes.add(None)
    if not shapes:
        return []
    if len(shapes) == 1 and (only := next(iter(shapes))) is not None:
        return list(only)
    return None


def _own_returns(node: ast.AST) -> Iterator[ast.Return]:
    """Return statements with a value, not those of functions or classes nested in it."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            continue
        if isinstance(child, ast.Return) and child.value is not None:
            yield child
        yield from _own_returns(child)


def _summary(fn: Callable[..., Any]) -> str | None:
    """The docstring's first paragraph, as the Function's description."""
    doc = inspect.getdoc(fn)
    return " ".join(doc.split("\n\n")[0].split()) if doc else None


def _definition(fn: Callable[..., Any]) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    try:
        return _parse(fn)[1]
    except (OSError, TypeError, SyntaxError):
        return None


def _parse(fn: Callable[..., Any]) -> tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    """The function's own source (decorators left out: they would run in the node) and
    its parsed definition."""
    source = textwrap.dedent(inspect.getsource(fn))
    module = ast.parse(source)
    definition = module.body[0]
    if not isinstance(definition, ast.FunctionDef | ast.AsyncFunctionDef):
        raise UnportableFunction(f"{fn.__name__} is not defined with def")
    own = "".join(source.splitlines(keepends=True)[definition.lineno - 1 :])
    reparsed = ast.parse(own).body[0]
    assert isinstance(reparsed, ast.FunctionDef | ast.AsyncFunctionDef)
    return own, reparsed


def standalone_source(fn: Callable[..., Any]) -> tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    """The code a node runs for `fn` alone: the imports its free names need, then its
    source. Raises UnportableFunction naming each free name that would not exist there."""
    try:
        own, definition = _parse(fn)
    except (OSError, TypeError) as error:
        raise UnportableFunction(
            f"the source of {fn.__name__} cannot be read ({error}): define it in a file or"
            " a notebook cell, or use Function.from_file"
        ) from None
    closure = fn.__code__.co_freevars
    if closure:
        raise UnportableFunction(
            f"{fn.__name__} uses {', '.join(closure)} from the function around it, which"
            " does not travel with it: pass it as a parameter or define it inside"
        )
    imports: list[str] = []
    refused: list[str] = []
    for name in sorted(_free_names(own, fn.__name__)):
        found = _import_for(fn, name)
        if found is None:
            refused.append(name)
        elif found:
            imports.append(found)
    if refused:
        raise UnportableFunction(_refusal(fn, refused))
    future = ["from __future__ import annotations"] if _future_annotations(fn) else []
    header = "\n".join([*future, *imports])
    return (f"{header}\n\n\n{own}" if header else own), definition


def _future_annotations(fn: Callable[..., Any]) -> bool:
    import __future__

    return bool(fn.__code__.co_flags & __future__.annotations.compiler_flag)


def _free_names(source: str, own_name: str) -> set[str]:
    """Names the code reads but never binds: those it needs from outside."""
    names: set[str] = set()
    tables = [symtable.symtable(source, "<function>", "exec")]
    while tables:
        table = tables.pop()
        for symbol in table.get_symbols():
            if symbol.is_referenced() and symbol.is_global():
                names.add(symbol.get_name())
        tables.extend(table.get_children())
    return names - {own_name}


def _import_for(fn: Callable[..., Any], name: str) -> str | None:
    """The import that brings `name` where the function runs; "" for a builtin; None
    when there is none."""
    scope = fn.__globals__
    if name not in scope:
        return "" if hasattr(builtins, name) else None
    value = scope[name]
    if isinstance(value, types.ModuleType):
        module = value.__name__
        return f"import {module}" if module == name else f"import {module} as {name}"
    module = getattr(value, "__module__", None)
    if not isinstance(module, str) or module in ("__main__", fn.__module__, "builtins"):
        return "" if module == "builtins" and getattr(builtins, name, None) is value else None
    home = sys.modules.get(module)
    spellings = (getattr(value, "__qualname__", None), getattr(value, "__name__", None), name)
    for attribute in spellings:
        if isinstance(attribute, str) and getattr(home, attribute, None) is value:
            alias = "" if attribute == name else f" as {name}"
            return f"from {module} import {attribute}{alias}"
    return None


def _refusal(fn: Callable[..., Any], names: list[str]) -> str:
    where = "the notebook (or script)" if fn.__module__ == "__main__" else fn.__module__
    listed = ", ".join(repr(n) for n in names)
    return (
        f"{fn.__name__} uses {listed}, defined in {where} but not importable where the node"
        " runs (only its own code, builtins and importable modules travel): pass values as"
        " parameters, define helpers inside the function, or keep them in one .py file"
        " and use Function.from_file"
    )
