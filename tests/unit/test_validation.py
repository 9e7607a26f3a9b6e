"""Validation reports every problem at once; codecheck parses, never runs, user code."""

import pytest
from pydantic import ValidationError

from headwater.api import DataflowSpec, FunctionSpec, Param, RunSpec
from headwater.codecheck import check_code
from headwater.validation import (
    Problem,
    ProblemKind,
    check_parameters,
    validate,
    validate_function,
    warnings,
)


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


# --- mistakes named where they are, with the name meant -----------------------------

SALES = {
    "load": function(["path"], ["sales"]),
    "filter": function(["sales", ("min_amount", 0)], ["filtered"]),
    "total": function(["df"], ["sum"]),
}
TYPO_FLOW = DataflowSpec(
    nodes=[
        {"name": "load", "function": "load", "inputs": ["path"]},
        {"name": "filter", "function": "filter", "inputs": ["sales"]},
        {"name": "total", "function": "total", "inputs": {"df": "filterd"}},
    ]
)


def test_a_free_input_spelt_like_a_produced_name_is_a_warning_on_the_dataflow() -> None:
    assert validate(TYPO_FLOW, SALES, dataflow_name="sales") == []
    [warning] = warnings(TYPO_FLOW, SALES, dataflow_name="sales")
    assert (warning.kind, warning.path, warning.resource) == (
        ProblemKind.POSSIBLE_TYPO,
        "spec.nodes[2].inputs.df",
        "Dataflow/sales",
    )
    assert warning.message == (
        "node 'total' reads 'filterd', which no node produces, so a Run must bind it;"
        " did you mean 'filtered', which node 'filter' produces and nothing reads?"
    )


def test_the_runs_unbound_input_error_blames_the_dataflow_field() -> None:
    run = RunSpec(dataflow="sales", parameters={"path": {"value": "s.csv"}})
    [problem] = validate(TYPO_FLOW, SALES, run, dataflow_name="sales", run_name="r")
    assert problem.kind == ProblemKind.UNBOUND_INPUT
    assert problem.message.startswith(
        "free input 'filterd' is read by node 'total' (parameter 'df') without a default;"
        " Dataflow/sales spec.nodes[2].inputs.df: node 'total' reads 'filterd'"
    )
    assert "did you mean 'filtered'" in problem.message
    assert problem.message.endswith("Otherwise bind it to a dataset or a value")


def test_list_form_inputs_are_placed_by_index() -> None:
    functions = {**SALES, "total": function(["filterd"], ["sum"])}
    flow = DataflowSpec(nodes=[*TYPO_FLOW.nodes[:2], {"function": "total", "inputs": ["filterd"]}])
    [warning] = warnings(flow, functions)
    assert warning.path == "spec.nodes[2].inputs[0]"


def test_free_inputs_that_only_look_alike_are_not_warned_about() -> None:
    # rionowcast: model_path is free, model is produced; X and y are one letter apart.
    functions = {
        "load-model": function(["model_path"], ["model"]),
        "split": function(["path"], ["X"]),
        "fit": function(["X", "y", "model"], ["fitted"]),
    }
    flow = DataflowSpec(
        nodes=[
            {"function": "load-model", "inputs": ["model_path"]},
            {"function": "split", "inputs": ["path"]},
            {"function": "fit", "inputs": ["X", "y", "model"]},
        ]
    )
    assert warnings(flow, functions) == []


def test_a_node_reading_a_slip_of_its_own_output_is_not_told_to_read_it() -> None:
    flow = DataflowSpec(nodes=[{"function": "total", "inputs": {"df": "sums"}}])
    assert warnings(flow, SALES) == []


def test_unknown_names_suggest_the_closest_known_one() -> None:
    flow = DataflowSpec(
        nodes=[
            {"name": "load", "function": "lod", "inputs": ["path"]},
            {"name": "filter", "function": "filter", "inputs": {"sales": "x", "min_amont": "m"}},
        ]
    )
    run = RunSpec(
        dataflow="sales",
        parameters={"pth": {"dataset": "sale-data"}, "x": {"value": 1}, "m": {"value": 1}},
    )
    problems = validate(flow, SALES, run, {"sales-data"}, run_name="r")
    by_path = {p.path: p.message for p in problems}
    assert by_path["spec.nodes[0].function"].endswith("; did you mean 'load'?")
    assert by_path["spec.nodes[1].inputs.min_amont"].endswith("; did you mean 'min_amount'?")
    assert by_path["spec.parameters.pth"].endswith("; did you mean 'path'?")
    assert by_path["spec.parameters.pth.dataset"].endswith("; did you mean 'sales-data'?")


def test_configmap_code_problems_name_the_reference_and_the_key() -> None:
    spec = FunctionSpec(
        handler="filter_sales",
        code={
            "inline": "def other(df):\n    return df\n",
            "configMapKeyRef": {"name": "sales-code", "key": "preprocessing.py"},
        },
        params=[{"name": "df"}],
        outputs=["out"],
    )
    [problem] = validate_function(spec, "filter-sales")
    assert problem.path == "spec.code.configMapKeyRef"
    assert problem.message == (
        "ConfigMap sales-code key preprocessing.py:"
        " the code defines no top-level function 'filter_sales'"
    )


# --- typed value parameters -------------------------------------------------------


def typed(schema: dict, default: object = None) -> FunctionSpec:
    param = {"name": "min_amount", "type": "value", "schema": schema}
    if default is not None:
        param["default"] = default
    return FunctionSpec(
        handler="run",
        code={"inline": "def run(min_amount):\n    return min_amount\n"},
        params=[param],
        outputs=["out"],
    )


NUMBER = {"type": "number", "minimum": 0}
FILTER = DataflowSpec(nodes=[{"name": "filter", "function": "f", "inputs": ["min_amount"]}])


def test_a_schema_that_is_not_json_schema_is_a_function_error() -> None:
    [problem] = validate_function(typed({"type": "nmber"}), "f")
    assert (problem.kind, problem.path) == (ProblemKind.INVALID_SCHEMA, "spec.params[0].schema")
    assert problem.message.startswith("parameter 'min_amount': not a JSON Schema: schema.type:")


def test_a_default_is_checked_against_its_schema() -> None:
    assert validate_function(typed(NUMBER, 5)) == []
    [problem] = validate_function(typed(NUMBER, -1), "f")
    assert (problem.kind, problem.path) == (ProblemKind.INVALID_DEFAULT, "spec.params[0].default")
    assert problem.message == (
        "parameter 'min_amount': the default -1 does not match its schema:"
        " -1 is less than the minimum of 0 (rule minimum: 0)"
    )


def test_bound_values_and_inline_datasets_are_checked_against_the_schema() -> None:
    functions = {"f": typed(NUMBER)}
    fifty = RunSpec(dataflow="d", parameters={"min_amount": {"value": "fifty"}})
    [problem] = check_parameters(FILTER, functions, fifty, {}, run_name="r")
    assert (problem.kind, problem.path, problem.resource) == (
        ProblemKind.INVALID_PARAMETER,
        "spec.parameters.min_amount.value",
        "Run/r",
    )
    assert problem.message == (
        "'min_amount': the value 'fifty' does not match the schema of parameter"
        " 'min_amount' of node 'filter': 'fifty' is not of type 'number' (rule type: 'number')"
    )
    by_dataset = RunSpec(dataflow="d", parameters={"min_amount": {"dataset": "limits"}})
    [problem] = check_parameters(FILTER, functions, by_dataset, {"limits": [1]})
    assert problem.path == "spec.parameters.min_amount.dataset"
    assert "inline dataset 'limits'" in problem.message
    assert check_parameters(FILTER, functions, by_dataset, {}) == []  # data in a file
    fine = RunSpec(dataflow="d", parameters={"min_amount": {"value": 50}})
    assert check_parameters(FILTER, functions, fine, {}) == []


def test_nested_rules_are_named_with_their_paths() -> None:
    schema = {"type": "object", "properties": {"limits": {"type": "array", "items": NUMBER}}}
    run = RunSpec(dataflow="d", parameters={"min_amount": {"value": {"limits": [1, -2]}}})
    [problem] = check_parameters(FILTER, {"f": typed(schema)}, run, {})
    assert problem.message.endswith(
        "value.limits[1]: -2 is less than the minimum of 0"
        " (rule minimum: 0 at schema.properties.limits.items.minimum)"
    )


def test_a_schema_refers_to_nothing_outside_itself() -> None:
    schema = {"$ref": "https://example.invalid/amount.json"}
    run = RunSpec(dataflow="d", parameters={"min_amount": {"value": 1}})
    [problem] = check_parameters(FILTER, {"f": typed(schema)}, run, {})
    assert "the schema refers to what it does not hold" in problem.message


def test_only_value_parameters_take_a_schema() -> None:
    with pytest.raises(ValidationError, match="only value parameters take a schema"):
        Param(name="df", type="artifact", schema={"type": "object"})


def test_a_sink_declares_no_outputs() -> None:
    with pytest.raises(ValidationError, match="a sink declares no outputs"):
        FunctionSpec(handler="run", type="sink", code={"module": "m"}, outputs=["x"])
    assert FunctionSpec(handler="run", type="sink", code={"module": "m"}).outputs == []
