"""resumeFrom and the cache on this machine: a result is reused only when its node's
fingerprint is the same, never silently wrong, and a cached result starts no process."""

import json
from pathlib import Path

from conftest import dataflow, function, headwater, run, write_manifests

VALUE = {"type": "value"}
SALES = [5, 50, 500, 5000]
KEEP = """
def keep(amounts, min_amount):
    return [a for a in amounts if a >= min_amount]
"""
TOTAL = "def total(kept):\n    return sum(kept)\n"
COUNT = "def count(amounts):\n    return len(amounts)\n"


def sales_flow(folder: Path, keep_code: str = KEEP) -> None:
    write_manifests(
        folder,
        [
            function(
                "keep",
                keep_code,
                [{"name": "amounts", **VALUE}, {"name": "min_amount", **VALUE}],
                ["kept"],
            ),
            function("total", TOTAL, [{"name": "kept", **VALUE}], ["sum"]),
            function("count", COUNT, [{"name": "amounts", **VALUE}], ["n"]),
            dataflow(
                "sales",
                [
                    {"function": "keep", "inputs": ["amounts", "min_amount"]},
                    {"function": "total", "inputs": ["kept"]},
                    {"function": "count", "inputs": ["amounts"]},
                ],
            ),
        ],
    )


def sales_run(folder: Path, name: str, min_amount: float, **spec: object) -> None:
    parameters = {"amounts": {"value": SALES}, "min_amount": {"value": min_amount}}
    write_manifests(folder, [run(name, "sales", parameters=parameters, **spec)], f"{name}.yaml")


def status_of(project: Path, name: str) -> dict:
    return json.loads((project / ".headwater" / "runs" / name / "status.json").read_text())


def value(uri: str) -> object:
    return json.loads((Path(uri) / "data.json").read_text())


def test_resuming_with_a_changed_value_reruns_what_depends_on_it(project: Path) -> None:
    """The stale reuse the issue found: resumed with min_amount 50 from a run with 1e9,
    the old total must not come back."""
    sales_flow(project / "flow")
    sales_run(project / "flow", "first", 1e9)
    assert headwater("run", "flow", "--run", "first", cwd=project).code == 0
    assert value(status_of(project, "first")["outputs"]["sum"]) == 0
    sales_run(project / "flow", "second", 50, resumeFrom="first")
    done = headwater("run", "flow", "--run", "second", "--output", "json", cwd=project)
    assert done.code == 0, done.stderr
    status = done.status()
    assert value(status["outputs"]["sum"]) == 5550
    nodes = status["nodes"]
    assert nodes["count"]["reusedFrom"] == "first", "count does not read min_amount"
    assert "reusedFrom" not in nodes["keep"] and "reusedFrom" not in nodes["total"]
    assert nodes["keep"]["message"] == "ran: a value it is given changed since run first"
    assert nodes["total"]["message"] == "ran: an upstream result it reads changed since run first"


def test_resuming_from_a_run_that_is_not_there_is_an_error_that_names_it(project: Path) -> None:
    sales_flow(project / "flow")
    sales_run(project / "flow", "first", 10)
    assert headwater("run", "flow", "--run", "first", cwd=project).code == 0
    sales_run(project / "flow", "second", 10, resumeFrom="frist")
    done = headwater("run", "flow", "--run", "second", cwd=project)
    assert done.code == 2
    assert "resumeFrom: no run frist" in done.stderr and "did you mean 'first'?" in done.stderr


def chain(folder: Path, length: int, step_code: str = "def step(x):\n    return x + 1\n") -> None:
    nodes = [
        {
            "name": f"n{i}",
            "function": "step-last" if i == length - 1 else "step",
            "inputs": {"x": "x" if i == 0 else f"v{i - 1}"},
            "outputs": [f"v{i}"],
        }
        for i in range(length)
    ]
    write_manifests(
        folder,
        [
            function("step", "def step(x):\n    return x + 1\n", [{"name": "x", **VALUE}], ["y"]),
            function(
                "step-last",
                step_code.replace("def step", "def step_last"),
                [{"name": "x", **VALUE}],
                ["y"],
            ),
            dataflow("chain", nodes),
        ],
    )


def cached_run(folder: Path, name: str) -> None:
    spec = {"parameters": {"x": {"value": 0}}, "cache": {"enabled": True}}
    write_manifests(folder, [run(name, "chain", **spec)], f"{name}.yaml")


def started(project: Path, name: str) -> set[str]:
    """The nodes of a run that got a process: those with a task file."""
    runs = project / ".headwater" / "runs" / name
    return {p.parent.name for p in runs.glob("*/task.json")}


def test_a_cached_run_starts_nothing_and_a_changed_node_reruns_only_below_it(
    project: Path,
) -> None:
    length = 20
    chain(project / "flow", length)
    cached_run(project / "flow", "one")
    assert headwater("run", "flow", "--run", "one", cwd=project).code == 0
    assert len(started(project, "one")) == length

    cached_run(project / "flow", "two")
    done = headwater("run", "flow", "--run", "two", "--output", "json", cwd=project)
    assert done.code == 0, done.stderr
    assert started(project, "two") == set(), "every node came from the cache"
    assert all(n["reusedFrom"] == "one" for n in done.status()["nodes"].values())
    assert value(done.status()["outputs"][f"v{length - 1}"]) == length

    # The last node's code changes: it alone runs again.
    chain(project / "flow", length, "def step(x):\n    return x + 100\n")
    cached_run(project / "flow", "three")
    done = headwater("run", "flow", "--run", "three", "--output", "json", cwd=project)
    assert done.code == 0, done.stderr
    assert started(project, "three") == {f"n{length - 1}"}
    assert value(done.status()["outputs"][f"v{length - 1}"]) == length - 1 + 100


def test_changed_dataset_bytes_rerun_its_readers(project: Path) -> None:
    data = project / "flow" / "data" / "numbers.json"  # a folder of its own: not a manifest
    data.parent.mkdir(parents=True)
    data.write_text("[1, 2, 3]")
    write_manifests(
        project / "flow",
        [
            {
                "apiVersion": "headwater.dev/v1alpha1",
                "kind": "Dataset",
                "metadata": {"name": "numbers"},
                "spec": {"source": {"uri": "data/numbers.json"}},
            },
            function("total", "def total(xs):\n    return sum(xs)\n", [{"name": "xs"}], ["sum"]),
            function("const", "def const():\n    return 7\n", [], ["seven"]),
            dataflow("d", [{"function": "total", "inputs": ["xs"]}, {"function": "const"}]),
        ],
    )

    def cached(name: str) -> dict:
        spec = {"parameters": {"xs": {"dataset": "numbers"}}, "cache": {"enabled": True}}
        write_manifests(project / "flow", [run(name, "d", **spec)], f"{name}.yaml")
        done = headwater("run", "flow", "--run", name, "--output", "json", cwd=project)
        assert done.code == 0, done.stderr
        return done.status()

    cached("one")
    assert started(project, "one") == {"total", "const"}
    data.write_text("[10, 20, 30]")
    status = cached("two")
    assert started(project, "two") == {"total"}
    assert value(status["outputs"]["sum"]) == 60


def test_a_function_marked_uncacheable_always_runs(project: Path) -> None:
    chain(project / "flow", 2)
    text = (project / "flow" / "flow.yaml").read_text()
    (project / "flow" / "flow.yaml").write_text(
        text.replace("handler: step_last", "handler: step_last\n  cache: false")
    )
    cached_run(project / "flow", "one")
    assert headwater("run", "flow", "--run", "one", cwd=project).code == 0
    cached_run(project / "flow", "two")
    assert headwater("run", "flow", "--run", "two", cwd=project).code == 0
    assert started(project, "two") == {"n1"}


def test_cache_list_shows_the_entries_and_clear_drops_them(project: Path) -> None:
    chain(project / "flow", 3)
    cached_run(project / "flow", "one")
    assert headwater("run", "flow", "--run", "one", cwd=project).code == 0
    listed = headwater("cache", "list", "--local", "-o", "json", cwd=project)
    assert listed.code == 0, listed.stderr
    entries = json.loads(listed.stdout)
    assert sorted(e["node"] for e in entries) == ["n0", "n1", "n2"]
    assert {e["run"] for e in entries} == {"one"}
    cleared = headwater("cache", "clear", "--local", "--run", "one", cwd=project)
    assert cleared.stdout.strip() == "dropped 3 cached results"
    cached_run(project / "flow", "two")
    assert headwater("run", "flow", "--run", "two", cwd=project).code == 0
    assert started(project, "two") == {"n0", "n1", "n2"}
