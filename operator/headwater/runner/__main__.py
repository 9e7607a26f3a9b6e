"""`python -m headwater.runner TASK_FILE`: run one node attempt, write the JSON result to
the task's resultPath, and exit with the result's code (0 ok, 1 retry, 2 bad input,
143 stopped by SIGTERM)."""

import sys
from collections.abc import Sequence
from typing import Any

from headwater.runner.attempt import first_line, run_attempt
from headwater.runner.errors import EXIT_BAD_INPUT, InvalidTask
from headwater.runner.result import RunnerResult, write_result
from headwater.runner.run import log
from headwater.runner.taskfile import parse_task, read_task_document

USAGE = "usage: python -m headwater.runner TASK_FILE"


def declared_result_path(document: Any) -> str | None:
    """resultPath of a task document that failed validation, so even an invalid task
    reports why where the executor looks."""
    if isinstance(document, dict) and isinstance(document.get("resultPath"), str):
        return document["resultPath"]
    return None


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if len(arguments) != 1:
        print(USAGE, file=sys.stderr)
        return EXIT_BAD_INPUT
    task_file = arguments[0]
    document: Any = None
    try:
        document = read_task_document(task_file)
        task = parse_task(document, source=f"task file {task_file}")
    except InvalidTask as error:
        result = RunnerResult(exit_code=error.exit_code, message=str(error))
        result_path = declared_result_path(document)
        if result_path:
            write_result(result, result_path)
        log(f"exit {result.exit_code}: {first_line(result.message)}")
        return result.exit_code
    return run_attempt(task).exit_code


if __name__ == "__main__":
    sys.exit(main())
