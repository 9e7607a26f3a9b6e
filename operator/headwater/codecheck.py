"""Check a Function's inline source against its declaration, by parsing it.

The operator never executes user code, so everything here works on the `ast`: the
source must parse, define the handler at top level, and accept the declared parameters
by name (the runner passes them as keyword arguments). Whatever the source, the answer
is a list of issues, never an exception: code the parser cannot cope with (thousands of
nested operators raise RecursionError or MemoryError) is InvalidCode. Parsing is still
costly at the worst (seconds, tens of MiB), so the operator parses in a separate
process: `headwater.codeworker`.
"""

import ast
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from headwater.limits import CODE_LENGTH


class CodeIssueKind(StrEnum):
    INVALID_CODE = "InvalidCode"
    MISSING_HANDLER = "MissingHandler"
    SIGNATURE_MISMATCH = "SignatureMismatch"


@dataclass(frozen=True)
class CodeIssue:
    kind: CodeIssueKind
    message: str


CodeCheck = Callable[[str | bytes, str, Iterable[str]], list[CodeIssue]]
"""find_code_issues, or the operator's isolated `headwater.codeworker.check_code_isolated`."""


def check_code(source: str, handler: str, params: Iterable[str]) -> list[str]:
    """Messages for everything wrong with `source` as the home of `handler(params…)`."""
    return [issue.message for issue in find_code_issues(source, handler, params)]


def find_code_issues(source: str | bytes, handler: str, params: Iterable[str]) -> list[CodeIssue]:
    """Like `check_code`, with a kind per issue for callers that sort them. Bytes (a
    ConfigMap's binaryData) must be UTF-8, as Python source is."""
    module = parse(source)
    if isinstance(module, CodeIssue):
        return [module]
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


def parse(source: str | bytes) -> ast.Module | CodeIssue:
    """The module, or why there is none."""
    try:
        # Bytes, or text decoded with surrogateescape, as ConfigMap code is.
        encoded = source if isinstance(source, bytes) else source.encode(errors="surrogateescape")
        source = encoded.decode()
    except UnicodeError as error:
        unit = "byte" if isinstance(error, UnicodeDecodeError) else "character"
        return _invalid(f"the code is not UTF-8: {error.reason} at {unit} {error.start}")
    if len(source) > CODE_LENGTH:
        return _invalid(
            f"the code is {len(source)} characters; at most {CODE_LENGTH} are allowed"
            " (put larger code in the image and name it in code.module)"
        )
    try:
        return ast.parse(source)
    except SyntaxError as error:
        where = f"line {error.lineno}" if error.lineno else "the code"
        return _invalid(f"{where}: {error.msg}")
    except (RecursionError, MemoryError, SystemError):
        # SystemError: CPython 3.11's parser, short of memory, sometimes returns NULL
        # without an exception set.
        return _invalid(
            "the code is nested too deeply or too large for Python's parser (thousands of"
            " nested operators, brackets or calls?)"
        )
    except ValueError as error:  # null bytes, before Python 3.11.4 made them a SyntaxError
        return _invalid(str(error))


def _invalid(message: str) -> CodeIssue:
    return CodeIssue(CodeIssueKind.INVALID_CODE, message)


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
