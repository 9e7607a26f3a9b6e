"""Pure DAG logic: wiring, levels, cycles, readiness, tolerance of broken specs."""

from headwater.api import DataflowSpec, FunctionSpec
from headwater.graph import build_graph


def function(params: list[str], outputs: list[str]) -> FunctionSpec:
    return FunctionSpec(
        handler="f",
        code={"module": "m"},
        params=[{"name": p} for p in params],
        outputs=outputs,
    )


FUNCTIONS = {
    "load-cor": function(["radar", "gauge"], ["df_radar", "df_gauge"]),
    "prep-cor": function(["df_radar", "df_gauge"], ["X"]),
    "load-model": function(["model_path"], ["model"]),
    "predict": function(["X", "model"], ["predictions"]),
}

RIONOWCAST = DataflowSpec(
    nodes=[
        {"name": "load", "function": "load-cor", "inputs": ["radar", "gauge"]},
        {"function": "prep-cor", "inputs": ["df_radar", "df_gauge"], "outputs": ["X"]},
        {"function": "load-model", "inputs": {"model_path": "weights"}},
        {"function": "predict", "inputs": {"X": "X", "model": "model"}},
    ]
)


def test_wiring_edges_free_inputs_and_final_outputs() -> None:
    graph = build_graph(RIONOWCAST, FUNCTIONS)
    assert graph.node_ids == ("load", "prep-cor", "load-model", "predict")
    assert graph.inputs["load-model"] == {"model_path": "weights"}
    assert graph.outputs["load"] == ("df_radar", "df_gauge")  # the function's names
    assert graph.producers["X"] == ("prep-cor",)
    assert graph.deps["predict"] == {"prep-cor", "load-model"}
    assert graph.dependents["load"] == {"prep-cor"}
    assert graph.free_inputs == {"radar", "gauge", "weights"}
    assert graph.final_outputs == ("predictions",)
    assert graph.acyclic


def test_levels_keep_spec_order_within_a_level() -> None:
    graph = build_graph(RIONOWCAST, FUNCTIONS)
    assert graph.levels == (("load", "load-model"), ("prep-cor",), ("predict",))
    assert graph.order == ("load", "load-model", "prep-cor", "predict")


def test_descendants_ancestors_and_ready() -> None:
    graph = build_graph(RIONOWCAST, FUNCTIONS)
    assert graph.descendants("load") == {"prep-cor", "predict"}
    assert graph.descendants("predict") == set()
    assert graph.ancestors("predict") == {"load", "prep-cor", "load-model"}
    todo = {"prep-cor", "load-model", "predict"}
    assert graph.ready(todo, {"load"}) == {"prep-cor", "load-model"}
    assert graph.ready({"predict"}, {"load", "prep-cor"}) == set()


def test_every_cycle_is_named_in_data_flow_direction() -> None:
    spec = DataflowSpec(
        nodes=[
            {"name": "a", "function": "f", "inputs": {"x": "from_b"}, "outputs": ["from_a"]},
            {"name": "b", "function": "f", "inputs": {"x": "from_a"}, "outputs": ["from_b"]},
            {"name": "c", "function": "f", "inputs": {"x": "from_c"}, "outputs": ["from_c"]},
            {"name": "d", "function": "f", "inputs": {"x": "from_a"}, "outputs": ["out"]},
        ]
    )
    graph = build_graph(spec, {"f": function(["x"], ["y"])})
    assert graph.cycles == (("a", "b", "a"), ("c", "c"))
    assert not graph.acyclic
    assert graph.levels == () and graph.order == ()


def test_broken_specs_still_build() -> None:
    spec = DataflowSpec(
        nodes=[
            {"name": "a", "function": "missing", "inputs": ["p"]},
            {"name": "a", "function": "prep-cor", "inputs": ["df_radar"]},
            {"name": "b", "function": "prep-cor", "inputs": ["nope"], "outputs": ["X", "Y"]},
            {"name": "c", "function": "load-model", "inputs": ["model_path"], "outputs": ["X"]},
        ]
    )
    graph = build_graph(spec, FUNCTIONS)
    assert graph.node_ids == ("a", "b", "c")  # the duplicate id keeps its first node
    assert graph.outputs["a"] == ()  # unknown function: nothing known about it
    assert graph.producers["X"] == ("b", "c")
    assert graph.levels == (("a", "b", "c"),)


def test_long_chain_does_not_hit_the_recursion_limit() -> None:
    nodes = [
        {"name": f"n{i}", "function": "f", "inputs": {"x": f"v{i - 1}"}, "outputs": [f"v{i}"]}
        for i in range(3000)
    ]
    nodes[0]["inputs"] = {"x": "v2999"}  # close the loop
    graph = build_graph(DataflowSpec(nodes=nodes), {"f": function(["x"], ["y"])})
    assert len(graph.cycles) == 1 and len(graph.cycles[0]) == 3001
