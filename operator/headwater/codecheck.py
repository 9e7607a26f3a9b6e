"""Check a Function's inline source against its declaration, by parsing it.

The operator never executes user code, so everything here works on the `ast`: the
source must parse, define the handler at top level, and accept the declared parameters
by name (the runner passes them as keyword arguments).
"""

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class CodeIssueKind(StrEnum):
    INVALID_CODE = "InvalidCode"
    MISSING_HANDLER = "MissingHandler"
    SIGNATURE_MISMATCH = "SignatureMismatch"


@dataclass(frozen=True)
class CodeIssue:
    kind: CodeIssueKind
    message: str


def check_code(source: str, handler: str, params: Iterable[str]) -> list[str]:
    """Messages for everything wrong with `source` as the home of `handler(params…)`."""
    return [issue.message for issue in find_code_issues(source, handler, params)]


def find_code_issues(source: str, handler: str, params: Iterable[str]) -> list[CodeIssue]:
    """Like `check_code`, with a kind per issue for callers that sort them."""
    try:
        module = ast.parse(source)
    except SyntaxError as error:
        where = f"line {error.lineno}" if error.lineno else "the code"
        return [CodeIssue(CodeIssueKind.INVALID_CODE, f"{where}: {error.msg}")]

    definition = _top_level_function(module, handler)
    if definition is None:
        return [
            CodeIssue(
                CodeIssueKind.MISSING_HANDLER,
                f"the code defines no top-level function {handler!r}",
            )
        ]
    return [
        CodeIssue(CodeIssueKind.SIGNATURE_MISMATCH, message)
        for message in _signature_mismatches(definition, list(params))
    ]


def _top_level_function(
    module: ast.Module, name: str
) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    # The last definition wins, as it does when Python runs the module.
    found = None
    for statement in module.body:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef) and (
            statement.name == name
        ):
            found = statement
    return found


def _signature_mismatches(
    definition: ast.FunctionDef | ast.AsyncFunctionDef, declared: list[str]
) -> list[str]:
    args = definition.args
    where = f"{definition.name}() at line {definition.lineno}"
    positional_only = {a.arg for a in args.posonlyargs}
    by_name = [*args.args, *args.kwonlyargs]
    accepted = {a.arg for a in by_name}

    problems = []
    for name in declared:
        if name in accepted:
            continue
        if name in positional_only:
            problems.append(
                f"{where}: parameter {name!r} is positional-only; headwater passes"
                " parameters by name"
            )
        elif args.kwarg is None:
            problems.append(f"{where} has no parameter {name!r} (declared in params)")

    # Defaults align with the last positional parameters; kw_defaults has None for a
    # keyword-only parameter without one.
    positional = [*args.posonlyargs, *args.args]
    required = [a.arg for a in positional[: len(positional) - len(args.defaults)]]
    required += [a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is None]
    for name in required:
        if name not in declared:
            problems.append(
                f"{where}: required parameter {name!r} is not declared in params;"
                " declare it or give it a default"
            )
    return problems
