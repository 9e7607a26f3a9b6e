"""Validation reports every problem at once; codecheck parses, never runs, user code."""

from headwater.api import DataflowSpec, FunctionSpec, RunSpec
from headwater.codecheck import check_code
from headwater.validation import Problem, ProblemKind, validate, validate_function


def function(params: list, outputs: list[str], code: str | None = None) -> FunctionSpec:
    """`params`: names, or (name, default) pairs for value parameters."""
    declared = [
        {"name": p} if isinstance(p, str) else {"name": p[0], "type": "value", "default": p[1]}
        for p in params
    ]
    signature = ", ".join(p if isinstance(p, str) else f"{p[0]}={p[1]!r}" for p in params)
    return FunctionSpec(
        handler="run",
        code={"inline": code or f"def run({signature}):\n    return 1\n"},
        params=declared,
        outputs=outputs,
    )


FUNCTIONS = {
    "load": function(["path"], ["df"]),
    "prep": function(["df", ("threshold", 0.5)], ["X"]),
    "fit": function(["X", "y"], ["model"]),
    "broken": function(["a"], ["b"], code="def run(a:\n    pass\n"),
}


def kinds(problems: list[Problem]) -> list[str]:
    return [p.kind for p in problems]


def test_a_valid_dataflow_and_run_have_no_problems() -> None:
    spec = DataflowSpec(
        nodes=[
            {"function": "load", "inputs": ["path"]},
            {"function": "prep", "inputs": ["df"]},  # threshold takes its default
            {"function": "fit", "inputs": {"X": "X", "y": "labels"}},
        ]
    )
    run = RunSpec(
        dataflow="d",
        parameters={"path": {"dataset": "radar"}, "labels": {"value": [1, 0]}},
    )
    assert validate(spec, FUNCTIONS) == []
    assert validate(spec, FUNCTIONS, run, {"radar"}) == []


def test_every_dataflow_problem_is_reported_at_once() -> None:
    spec = DataflowSpec(
        nodes=[
            {"name": "a", "function": "load", "inputs": ["path"], "outputs": ["df"]},
            {"name": "a", "function": "load", "inputs": ["path"], "outputs": ["other"]},
            {"name": "b", "function": "nowhere"},
            {"name": "c", "function": "prep", "inputs": ["df", "extra"], "outputs": ["X", "Z"]},
            {"name": "d", "function": "fit", "inputs": {"X": "X0", "q": "w"}, "outputs": ["df"]},
            {"name": "e", "function": "prep", "inputs": {"df": "loop"}, "outputs": ["loop"]},
            {"name": "f", "function": "broken", "inputs": ["a"]},
        ]
    )
    problems = validate(spec, FUNCTIONS, dataflow_name="rionowcast")
    found = {(p.kind, p.path) for p in problems}
    assert found == {
        (ProblemKind.DUPLICATE_NODE_NAME, "spec.nodes[1].name"),
        (ProblemKind.UNKNOWN_FUNCTION, "spec.nodes[2].function"),
        (ProblemKind.UNKNOWN_PARAMETER, "spec.nodes[3].inputs[1]"),
        (ProblemKind.OUTPUT_COUNT_MISMATCH, "spec.nodes[3].outputs"),
        (ProblemKind.UNKNOWN_PARAMETER, "spec.nodes[4].inputs.q"),
        (ProblemKind.MISSING_PARAMETER, "spec.nodes[4].inputs"),
        (ProblemKind.DUPLICATE_PRODUCER, "spec.nodes[4].outputs[0]"),
        (ProblemKind.CYCLE, "spec.nodes[5]"),
        (ProblemKind.INVALID_CODE, "spec.code.inline"),
    }
    by_kind = {p.kind: p for p in problems}  # the last of each kind
    assert by_kind[ProblemKind.CYCLE].message.endswith("e -> e")
    assert "'q'" in by_kind[ProblemKind.UNKNOWN_PARAMETER].message
    assert "'y'" in by_kind[ProblemKind.MISSING_PARAMETER].message
    assert "'a', 'd'" in by_kind[ProblemKind.DUPLICATE_PRODUCER].message
    assert "'nowhere'" in by_kind[ProblemKind.UNKNOWN_FUNCTION].message
    assert by_kind[ProblemKind.INVALID_CODE].resource == "Function/broken"
    assert "line 1" in by_kind[ProblemKind.INVALID_CODE].message
    assert by_kind[ProblemKind.CYCLE].resource == "Dataflow/rionowcast"


def test_cycle_through_two_nodes_is_named() -> None:
    spec = DataflowSpec(
        nodes=[
            {"name": "a", "function": "prep", "inputs": {"df": "from_b"}, "outputs": ["from_a"]},
            {"name": "b", "function": "prep", "inputs": {"df": "from_a"}, "outputs": ["from_b"]},
        ]
    )
    [problem] = validate(spec, FUNCTIONS)
    assert problem.kind == ProblemKind.CYCLE
    assert "a -> b -> a" in problem.message


def test_run_problems_need_a_run() -> None:
    spec = DataflowSpec(
        nodes=[
            {"function": "load", "inputs": ["path"]},
            {"function": "prep", "inputs": {"df": "df", "threshold": "cutoff"}},
            {"function": "fit", "inputs": {"X": "X", "y": "labels"}},
        ]
    )
    assert validate(spec, FUNCTIONS) == []  # free inputs are the run's to bind
    run = RunSpec(
        dataflow="d",
        parameters={
            "path": {"dataset": "missing"},
            "X": {"value": 1},
            "typo": {"value": 2},
        },
    )
    problems = validate(spec, FUNCTIONS, run, {"radar"}, run_name="r1")
    assert {(p.kind, p.path) for p in problems} == {
        (ProblemKind.UNKNOWN_DATASET, "spec.parameters.path.dataset"),
        (ProblemKind.UNKNOWN_BINDING, "spec.parameters.X"),
        (ProblemKind.UNKNOWN_BINDING, "spec.parameters.typo"),
        (ProblemKind.UNBOUND_INPUT, "spec.parameters.labels"),
    }  # cutoff is free and unbound, but threshold has a default
    assert all(p.resource == "Run/r1" for p in problems)
    produced = next(p for p in problems if p.path == "spec.parameters.X")
    assert "produced by node 'prep'" in produced.message


def test_validate_function_reports_code_and_declaration_problems() -> None:
    spec = FunctionSpec(
        handler="predict",
        code={"inline": "def predict(X, model, scale):\n    return X\n"},
        params=[{"name": "X"}, {"name": "model"}, {"name": "extra"}, {"name": "X"}],
        outputs=["y", "y"],
    )
    problems = validate_function(spec, "predict-cor")
    assert sorted(kinds(problems)) == sorted(
        [
            ProblemKind.DUPLICATE_PARAMETER,
            ProblemKind.DUPLICATE_OUTPUT,
            ProblemKind.SIGNATURE_MISMATCH,
            ProblemKind.SIGNATURE_MISMATCH,
        ]
    )
    assert all(p.resource == "Function/predict-cor" for p in problems)


def test_module_code_is_not_checked() -> None:
    spec = FunctionSpec(handler="run", code={"module": "pkg.mod"}, params=[{"name": "a"}])
    assert validate_function(spec) == []


def test_codecheck_reports_syntax_errors_with_their_line() -> None:
    [message] = check_code("import os\n\ndef run(a):\n    return (\n", "run", ["a"])
    assert message.startswith("line 4")


def test_codecheck_needs_a_top_level_function_named_as_the_handler() -> None:
    assert check_code("def other(a): ...", "run", ["a"]) == [
        "the code defines no top-level function 'run'"
    ]
    nested = "class Box:\n    def run(self, a): ...\n"
    assert len(check_code(nested, "run", ["a"])) == 1
    assert len(check_code("run = lambda a: a", "run", ["a"])) == 1
    assert check_code("async def run(a): ...", "run", ["a"]) == []


def test_codecheck_matches_the_signature_by_name() -> None:
    assert check_code("def run(a, b=1, *, c=2): ...", "run", ["a", "c"]) == []
    assert check_code("def run(a, **rest): ...", "run", ["a", "anything"]) == []
    missing = check_code("def run(a): ...", "run", ["a", "b"])
    assert len(missing) == 1 and "'b'" in missing[0]
    required = check_code("def run(a, b, *, c): ...", "run", ["a"])
    assert len(required) == 2 and "'b'" in required[0] and "'c'" in required[1]
    positional = check_code("def run(a, /): ...", "run", ["a"])
    assert len(positional) == 1 and "positional-only" in positional[0]


def test_codecheck_never_runs_the_code(tmp_path) -> None:
    marker = tmp_path / "ran"
    source = f"open({str(marker)!r}, 'w').close()\ndef run(): ...\n"
    assert check_code(source, "run", []) == []
    assert not marker.exists()
