"""What `headwater validate` and `headwater run` say about a mistake: where it is, what
was probably meant, and where the rest of the story is."""

import json
import re
from pathlib import Path

from conftest import dataflow, function, headwater, run, write_manifests

VALUE = {"type": "value"}
SALES_CODE = """\
def filter_sales(sales, min_amount):
    kept = [s for s in sales if s >= min_amount]
    if not kept:
        raise ValueError(f"no sale reaches {min_amount}")
    return kept
"""


def lines(stderr: str, level: str) -> list[str]:
    """One string per reported problem; the console may wrap a long one over lines."""
    chunks = re.split(r"^(?=error |warning |valid:)", stderr, flags=re.MULTILINE)
    return [" ".join(chunk.split()) for chunk in chunks if chunk.startswith(f"{level} ")]


def invalid(tmp_path: Path, *args: str) -> list[str]:
    """The errors of a command that must exit 2 (invalid manifests)."""
    done = headwater(*args, cwd=tmp_path)
    assert done.code == 2, done.stderr
    return lines(done.stderr, "error")


def test_a_manifest_kubectl_would_reject_is_rejected_with_what_to_quote(tmp_path: Path) -> None:
    (tmp_path / "flow").mkdir()
    (tmp_path / "flow" / "split.yaml").write_text(
        """\
apiVersion: headwater.dev/v1alpha1
kind: Function
metadata: {name: split}
spec:
  handler: split
  code: {inline: "def split(data):\\n    return data, data\\n"}
  params: [{name: data}]
  outputs: [X, y]
"""
    )
    assert invalid(tmp_path, "validate", "flow") == [
        "error flow/split.yaml (document 1): Function/split at spec.outputs[1]: y is read as"
        ' the boolean true by kubectl (YAML 1.1); quote it: "y"'
    ]


def sales_flow(folder: Path, total_reads: str, **bindings: dict) -> None:
    write_manifests(
        folder,
        [
            function(
                "filter-sales",
                SALES_CODE,
                [{"name": "sales", **VALUE}, {"name": "min_amount", **VALUE}],
                ["filtered"],
            ),
            function(
                "total", "def total(df):\n    return sum(df)\n", [{"name": "df", **VALUE}], ["sum"]
            ),
            dataflow(
                "sales",
                [
                    {
                        "name": "filter",
                        "function": "filter-sales",
                        "inputs": ["sales", "min_amount"],
                    },
                    {"name": "total", "function": "total", "inputs": {"df": total_reads}},
                ],
            ),
            run(
                "sales-1",
                "sales",
                parameters={"sales": {"value": [5, 50]}, "min_amount": {"value": 10}, **bindings},
            ),
        ],
    )


def test_a_typo_in_the_dataflow_is_blamed_on_the_dataflow(tmp_path: Path) -> None:
    sales_flow(tmp_path / "flow", "filterd")
    done = headwater("validate", "flow", cwd=tmp_path)
    assert done.code == 2, done.stderr
    [warning] = lines(done.stderr, "warning")
    assert warning.startswith(
        "warning flow/flow.yaml (document 3): Dataflow/sales at spec.nodes[1].inputs.df:"
        " node 'total' reads 'filterd', which no node produces"
    )
    assert warning.endswith(
        "did you mean 'filtered', which node 'filter' produces and nothing reads?"
    )
    [error] = lines(done.stderr, "error")
    assert error.startswith(
        "error flow/flow.yaml (document 4): Run/sales-1 at spec.parameters.filterd:"
    )
    assert "Dataflow/sales spec.nodes[1].inputs.df:" in error and "did you mean 'filtered'" in error

    # Bound by the Run, the free input is legitimate: a warning, and the run goes ahead.
    sales_flow(tmp_path / "bound", "filterd", filterd={"value": [1]})
    done = headwater("validate", "bound", cwd=tmp_path)
    assert done.code == 0, done.stderr
    assert len(lines(done.stderr, "warning")) == 1


def test_a_value_that_breaks_its_schema_stops_the_run_before_it_starts(tmp_path: Path) -> None:
    sales_flow(tmp_path / "flow", "filtered")
    path = tmp_path / "flow" / "flow.yaml"
    path.write_text(
        path.read_text()
        .replace(
            "name: min_amount\n    type: value",
            "name: min_amount\n    type: value\n    schema: {type: number}",
        )
        .replace("min_amount:\n      value: 10", "min_amount:\n      value: fifty")
    )
    assert invalid(tmp_path, "run", "flow") == [
        "error flow/flow.yaml (document 4): Run/sales-1 at spec.parameters.min_amount.value:"
        " 'min_amount': the value 'fifty' does not match the schema of parameter 'min_amount'"
        " of node 'filter': 'fifty' is not of type 'number' (rule type: 'number')"
    ]
    assert not (tmp_path / ".headwater" / "runs" / "sales-1").exists()


def configmap_flow(folder: Path, handler: str = "filter_sales") -> None:
    sales_flow(folder, "filtered")
    path = folder / "flow.yaml"
    documents = path.read_text().replace("handler: filter_sales", f"handler: {handler}")
    # The first Function's code moves to a ConfigMap key, as a user keeps it in a file.
    inline_start = documents.index("  code:\n    inline:")
    inline_end = documents.index("  params:", inline_start)
    documents = (
        documents[:inline_start]
        + "  code:\n    configMapKeyRef: {name: sales-code, key: preprocessing.py}\n"
        + documents[inline_end:]
    )
    path.write_text(documents)
    (folder / "code.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: sales-code}\ndata:\n"
        f"  preprocessing.py: {json.dumps(SALES_CODE)}\n"
    )


def test_configmap_code_problems_name_the_configmap_and_key(tmp_path: Path) -> None:
    configmap_flow(tmp_path / "flow", handler="filter_sale")
    assert invalid(tmp_path, "validate", "flow") == [
        "error flow/flow.yaml (document 1): Function/filter-sales at spec.code.configMapKeyRef:"
        " ConfigMap sales-code key preprocessing.py: the code defines no top-level function"
        " 'filter_sale'"
    ]


def test_a_failure_in_configmap_code_points_at_the_file_and_the_log(tmp_path: Path) -> None:
    configmap_flow(tmp_path / "flow")
    path = tmp_path / "flow" / "flow.yaml"
    path.write_text(path.read_text().replace("value: 10", "value: 1000"))
    done = headwater("run", "flow", "--output", "json", cwd=tmp_path)
    assert done.code == 1, done.stderr
    message = done.status()["nodes"]["filter"]["message"]
    assert message == (
        "ValueError: no sale reaches 1000 (at preprocessing.py, line 4:"
        ' raise ValueError(f"no sale reaches {min_amount}"))'
    )
    log = tmp_path / ".headwater" / "runs" / "sales-1" / "filter" / "node.log"
    assert 'File "preprocessing.py", line 4, in filter_sales' in log.read_text()
    assert (
        f"node filter failed; full traceback in {Path('.headwater/runs/sales-1/filter/node.log')}"
        in (" ".join(done.stderr.split()))
    )


def test_a_run_of_a_missing_dataflow_names_the_closest(tmp_path: Path) -> None:
    sales_flow(tmp_path / "flow", "filtered")
    path = tmp_path / "flow" / "flow.yaml"
    path.write_text(path.read_text().replace("dataflow: sales", "dataflow: sale"))
    assert invalid(tmp_path, "validate", "flow") == [
        "error flow/flow.yaml (document 4): Run/sales-1 at spec.dataflow: Dataflow sale not found;"
        " did you mean 'sales'?"
    ]
