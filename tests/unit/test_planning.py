"""A node's Task: each parameter's source, and where its outputs go."""

import pytest

from headwater.api import Binding, DataflowSpec, FunctionSpec, NodeStatus, RunStatus
from headwater.graph import build_graph
from headwater.planning import PlanningError, build_task, output_uris
from headwater.snapshot import ResolvedDataset, Snapshot


def function(params: list[dict], outputs: list[str], handler: str = "run") -> FunctionSpec:
    return FunctionSpec(
        handler=handler,
        code={"inline": f"def {handler}(**kw): ..."},
        params=params,
        outputs=outputs,
    )


SNAPSHOT = Snapshot(
    dataflow=DataflowSpec(
        nodes=[
            {"name": "load", "function": "load", "inputs": ["radar", "grid"]},
            {"name": "prep", "function": "prep", "inputs": {"df": "frames"}, "outputs": ["X"]},
            {"name": "split", "function": "split", "inputs": ["X", "labels"]},
        ]
    ),
    functions={
        "load": function(
            [{"name": "radar", "type": "path"}, {"name": "grid"}], ["frames"], handler="load"
        ),
        "prep": function(
            [{"name": "df"}, {"name": "threshold", "type": "value", "default": 0.5}],
            ["prepared"],
        ),
        "split": function([{"name": "X"}, {"name": "labels", "type": "value"}], ["a", "b"]),
    },
    datasets={
        "radar": ResolvedDataset(uri="s3://data/radar.parquet", format="parquet"),
        "grid": ResolvedDataset(format="json", inline={"cells": 4}, is_inline=True),
    },
)
BINDINGS = {
    "radar": Binding(dataset="radar"),
    "grid": Binding(dataset="grid"),
    "labels": Binding(value=[1, 0]),
}


def test_source_node_reads_bound_datasets() -> None:
    task = build_task("r1", SNAPSHOT, "load", RunStatus(), BINDINGS, "s3://bucket/store")
    radar, grid = task.inputs
    assert (radar.param, radar.type, radar.dataset_uri, radar.format) == (
        "radar",
        "path",
        "s3://data/radar.parquet",
        "parquet",
    )
    assert (grid.value, grid.has_value, grid.dataset_uri) == ({"cells": 4}, True, None)
    assert task.handler == "load" and task.code == "def load(**kw): ..."
    assert task.output_names == ["frames"]
    assert task.outputs == {"frames": "s3://bucket/store/runs/r1/load/frames"}


def test_upstream_artifact_comes_from_the_status_and_defaults_fill_the_rest() -> None:
    status = RunStatus(
        nodes={"load": NodeStatus(phase="Succeeded", outputs={"frames": "/elsewhere/frames"})}
    )
    task = build_task(
        "r1", SNAPSHOT, "prep", status, BINDINGS, "/data/", result_path="/dev/termination-log"
    )
    df, threshold = task.inputs
    assert (df.param, df.artifact_uri) == ("df", "/elsewhere/frames")
    assert (threshold.value, threshold.has_value) == (0.5, True)
    # Declared output name → a directory named after the wired name.
    assert task.output_names == ["prepared"]
    assert task.outputs == {"prepared": "/data/runs/r1/prep/X"}
    assert task.result_path == "/dev/termination-log"


def test_upstream_artifact_falls_back_to_its_conventional_location() -> None:
    status = RunStatus(nodes={"prep": NodeStatus(phase="Succeeded")})
    task = build_task(
        "r1", SNAPSHOT, "split", status, BINDINGS, "s3://b/p", storage_options={"anon": True}
    )
    x, labels = task.inputs
    assert x.artifact_uri == "s3://b/p/runs/r1/prep/X"
    assert (labels.value, labels.has_value) == ([1, 0], True)
    assert task.outputs == {"a": "s3://b/p/runs/r1/split/a", "b": "s3://b/p/runs/r1/split/b"}
    assert task.storage_options == {"anon": True}


def test_reused_upstream_points_at_the_run_it_came_from() -> None:
    status = RunStatus(nodes={"prep": NodeStatus(phase="Succeeded", reused_from="r0")})
    task = build_task("r1", SNAPSHOT, "split", status, BINDINGS, "/store")
    assert task.inputs[0].artifact_uri == "/store/runs/r0/prep/X"


def test_unbound_input_without_default_cannot_be_planned() -> None:
    with pytest.raises(PlanningError, match="'labels'"):
        build_task("r1", SNAPSHOT, "split", RunStatus(), {}, "/store")


def test_output_uris_use_wired_names() -> None:
    graph = build_graph(SNAPSHOT.dataflow, SNAPSHOT.functions)
    assert output_uris("file:///tmp/s", "r1", "prep", graph) == {
        "X": "file:///tmp/s/runs/r1/prep/X"
    }
    assert output_uris("/s", "r1", "split", graph) == {
        "a": "/s/runs/r1/split/a",
        "b": "/s/runs/r1/split/b",
    }


def test_tracebacks_name_the_configmap_key_the_code_came_from() -> None:
    from_key = FunctionSpec(
        handler="run",
        code={
            "inline": "def run(): ...",
            "configMapKeyRef": {"name": "code", "key": "preprocessing.py"},
        },
    )
    snapshot = Snapshot(
        dataflow=DataflowSpec(
            nodes=[{"name": "a", "function": "from-key"}, {"name": "b", "function": "inline"}]
        ),
        functions={"from-key": from_key, "inline": function([], [])},
    )
    task = build_task("r", snapshot, "a", RunStatus(), {}, "/store")
    assert (task.code, task.filename) == ("def run(): ...", "preprocessing.py")
    assert build_task("r", snapshot, "b", RunStatus(), {}, "/store").filename == "<Function inline>"


def test_a_snapshot_keeps_configmap_code_beside_its_reference() -> None:
    # The operator reads its snapshot back from a ConfigMap: the pair must survive.
    code = {"inline": "def run(): ...", "configMapKeyRef": {"name": "c", "key": "k.py"}}
    snapshot = Snapshot(
        dataflow=DataflowSpec(nodes=[{"function": "f"}]),
        functions={"f": FunctionSpec(handler="run", code=code)},
    )
    again = Snapshot.model_validate_json(snapshot.model_dump_json(by_alias=True))
    assert again.functions["f"].code.config_map_key_ref.key == "k.py"
