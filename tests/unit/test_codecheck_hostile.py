"""Code that blows up Python's parser is an InvalidCode issue, never an exception, both
in process (find_code_issues) and in the operator's isolated worker (CodeChecker), which
also survives overruns and crashes and never parses the same code twice."""

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from headwater.codecheck import CodeIssue, CodeIssueKind, find_code_issues
from headwater.codeworker import CodeChecker, check_code_isolated
from headwater.limits import CODE_LENGTH

INVALID = CodeIssueKind.INVALID_CODE
TOO_DEEP = "nested too deeply or too large for Python's parser"


def fits(prefix: str, unit: str, suffix: str = "", count: int | None = None) -> str:
    """prefix + unit × count + suffix, as many units as CODE_LENGTH allows by default."""
    if count is None:
        count = (CODE_LENGTH - len(prefix) - len(suffix)) // len(unit)
    return prefix + unit * count + suffix


# name → (code, the fragment its only issue must carry); each at its worst size.
HOSTILE = {
    "unary-5000": ("def main():\n    return " + "-" * 5000 + "1\n", TOO_DEEP),
    "unary-30000": ("def main():\n    return " + "-" * 30000 + "1\n", TOO_DEEP),
    "unary-longest": (fits("x = ", "-", "1\n"), TOO_DEEP),
    "not-longest": (fits("x = ", "not ", "1\n"), TOO_DEEP),
    "parentheses": ("x = " + "(" * 32000 + "1" + ")" * 32000, "nested parentheses"),
    "lists": ("x = " + "[" * 5000 + "]" * 5000, "nested parentheses"),
    "lambdas": (fits("x = ", "lambda:", "1\n"), TOO_DEEP),
    "binary-operators": (fits("x = ", "1+", "1\n"), TOO_DEEP),
    "calls": (fits("x = f", "()", "\n"), TOO_DEEP),
    "elifs": (fits("if a: pass\n", "elif a: pass\n"), TOO_DEEP),
    "indentation": ("".join(" " * i + "if 1:\n" for i in range(150)), "indentation"),
    "null-byte": ("def main():\n    return 1\x00\n", "null bytes"),
    "huge-integer": ("x = " + "1" * 5000 + "\n", "4300 digits"),
    "string-over-limit": (fits("x = '", "a", "'\n", CODE_LENGTH), f"at most {CODE_LENGTH}"),
}


@pytest.fixture(scope="module")
def checker() -> Iterator[CodeChecker]:
    shared = CodeChecker()
    yield shared
    shared.close()


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_code_is_invalid_in_process(name: str) -> None:
    code, fragment = HOSTILE[name]
    [issue] = find_code_issues(code, "main", [])
    assert issue.kind == INVALID
    assert fragment in issue.message, issue.message


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_code_is_invalid_in_the_worker_and_cached(name: str, checker: CodeChecker) -> None:
    code, fragment = HOSTILE[name]
    parses = checker.parses
    [issue] = checker.check(code, "main", [])
    assert issue.kind == INVALID
    assert fragment in issue.message, issue.message
    assert checker.check(code, "main", []) == [issue]
    assert checker.parses == parses + 1, "the second check was not served from the cache"


def test_the_largest_string_literal_allowed_parses(checker: CodeChecker) -> None:
    code = fits("def main():\n    return '", "é", "'\n")
    assert len(code) <= CODE_LENGTH
    assert find_code_issues(code, "main", []) == []
    assert checker.check(code, "main", []) == []


def test_invalid_utf8_from_a_configmap_is_invalid_code(checker: CodeChecker) -> None:
    code = b"def main():\n    return '\xff'\n"
    for issues in (find_code_issues(code, "main", []), checker.check(code, "main", [])):
        assert issues == [
            CodeIssue(INVALID, "the code is not UTF-8: invalid start byte at byte 24")
        ]


def test_the_cache_key_is_code_handler_and_params(checker: CodeChecker) -> None:
    code = "def main(x):\n    return x\n"
    assert checker.check(code, "main", ["x"]) == []
    parses = checker.parses
    [missing] = checker.check(code, "other", ["x"])
    assert missing.kind == CodeIssueKind.MISSING_HANDLER
    mismatches = checker.check(code, "main", ["y"])
    assert {issue.kind for issue in mismatches} == {CodeIssueKind.SIGNATURE_MISMATCH}
    assert checker.parses == parses + 2


SLOW = fits("x = f'", "{a}", "'\n")
"""The slowest code measured: an f-string's fields parse in quadratic time (seconds)."""


def test_an_overrun_is_invalid_code_and_the_next_check_gets_a_new_worker() -> None:
    checker = CodeChecker(timeout=0.2)
    try:
        [issue] = checker.check(SLOW, "main", [])
        assert issue == CodeIssue(INVALID, "parsing the code took longer than 0.2s")
        assert checker.check(SLOW, "main", []) == [issue]  # cached: never parsed twice
        assert checker.check("def main():\n    pass\n", "main", []) == []
        assert checker.parses == 2
    finally:
        checker.close()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_worker_that_dies_mid_check_is_invalid_code_and_replaced() -> None:
    checker = CodeChecker(timeout=60)
    answers: list[list[CodeIssue]] = []
    try:
        assert checker.check("x = 1\n", "main", [])  # starts the worker
        worker = checker._worker
        assert worker is not None
        busy = threading.Thread(target=lambda: answers.append(checker.check(SLOW, "main", [])))
        before = cpu_seconds(worker.pid)
        busy.start()
        # Wait until it is parsing, not reading the request: the parse burns CPU for seconds.
        while cpu_seconds(worker.pid) < before + 0.3 and busy.is_alive():
            threading.Event().wait(0.02)
        os.kill(worker.pid, signal.SIGKILL)
        busy.join(60)
        assert answers == [
            [CodeIssue(INVALID, "parsing the code crashed the code checker (killed by SIGKILL)")]
        ]
        assert checker.check("def main():\n    pass\n", "main", []) == []
    finally:
        checker.close()


def test_a_worker_killed_between_checks_is_replaced_transparently(checker: CodeChecker) -> None:
    checker.check("y = 1\n", "main", [])
    assert checker._worker is not None
    os.kill(checker._worker.pid, signal.SIGKILL)
    checker._worker.wait()
    assert checker.check("def main(a):\n    pass\n", "main", ["a"]) == []


def test_the_shared_checker_answers_for_the_operator() -> None:
    [issue] = check_code_isolated(HOSTILE["unary-5000"][0], "main", [])
    assert TOO_DEEP in issue.message
