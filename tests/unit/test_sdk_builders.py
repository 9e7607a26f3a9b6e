"""Functions and Dataflows built from Python: parameters and schemas from hints, outputs
from annotations or return statements, refusals that name the global at fault, and YAML
that `headwater validate` (kubectl's reading) takes back unchanged."""

import math
from pathlib import Path
from typing import Annotated, NamedTuple, TypedDict

import numpy as np
import pytest
from pydantic import Field

import headwater
from headwater.api import FunctionType, ParamType
from headwater.manifests import load_manifests
from headwater.sdk.callables import declare
from headwater.validation import validate

THRESHOLD = 0.5


def area(radius: float, unit: str = "m", scale: Annotated[float, Field(gt=0)] = 1.0) -> float:
    """Area of a circle.

    More words that are not the summary."""
    return math.pi * radius * radius * scale


def uses_a_global(x):
    return x > THRESHOLD


def reads(path: Path, frame: np.ndarray, limit: list[int] | None = None, flag=True):
    return frame[:1], path, limit, flag


class Split(NamedTuple):
    train: object
    test: object


class Metrics(TypedDict):
    auc: float
    accuracy: float


def split(df) -> Split:
    return Split(df, df)


def evaluate(df) -> Metrics:
    return {"auc": 1.0, "accuracy": 1.0}


def named_returns(df_radar, df_grid):
    if df_radar is None:
        return df_radar, df_grid
    return df_radar, df_grid


def pair(a) -> tuple[int, int]:
    return a, a + 1


def report(df) -> None:
    print(df)


def test_params_and_schemas_come_from_the_signature() -> None:
    function = headwater.Function.from_callable(area)
    params = {p.name: p for p in function.spec.params}
    assert {n: p.type for n, p in params.items()} == dict.fromkeys(params, ParamType.VALUE)
    assert params["radius"].schema_ == {"type": "number"} and params["radius"].default is None
    assert params["unit"].default == "m" and params["unit"].schema_ == {"type": "string"}
    assert params["scale"].schema_ == {"type": "number", "exclusiveMinimum": 0}
    assert function.spec.outputs == ["area"]
    assert function.spec.description == "Area of a circle."
    assert function.metadata.name == "area" and function.spec.handler == "area"
    assert function(2.0) == pytest.approx(4 * math.pi)  # still the Python function

    typed = {p.name: p.type for p in headwater.Function.from_callable(reads).spec.params}
    assert typed == {
        "path": ParamType.PATH,
        "frame": ParamType.ARTIFACT,
        "limit": ParamType.VALUE,
        "flag": ParamType.VALUE,  # no hint, a JSON default
    }
    overridden = headwater.Function.from_callable(reads, params={"frame": "path"})
    assert overridden.spec.params[1].type == ParamType.PATH


def test_the_code_carries_its_imports_and_not_its_decorators() -> None:
    code = headwater.Function.from_callable(reads).spec.code.inline
    assert code is not None
    assert code.startswith("from pathlib import Path\nimport numpy as np\n")
    namespace: dict[str, object] = {}
    exec(compile(code, "<function>", "exec"), namespace)  # runs alone, as in a node
    assert callable(namespace["reads"])


def test_a_global_of_the_notebook_is_refused_by_name() -> None:
    with pytest.raises(headwater.UnportableFunction) as refused:
        headwater.Function.from_callable(uses_a_global)
    assert "'THRESHOLD'" in str(refused.value) and "Function.from_file" in str(refused.value)

    def outer() -> object:
        k = 1

        def inner(x):
            return x + k

        return inner

    with pytest.raises(headwater.UnportableFunction, match="uses k from the function around it"):
        headwater.Function.from_callable(outer())  # type: ignore[arg-type]
    with pytest.raises(headwater.UnportableFunction, match="lambda"):
        headwater.Function.from_callable(lambda x: x)


def test_outputs_from_annotations_and_return_statements() -> None:
    # Split and Metrics live in this module, so only the declaration is looked at here.
    assert declare(split).outputs == ["train", "test"]
    assert declare(evaluate).outputs == ["auc", "accuracy"]
    assert headwater.Function.from_callable(named_returns).spec.outputs == ["df_radar", "df_grid"]
    sink = headwater.Function.from_callable(report)
    assert sink.spec.outputs == [] and sink.spec.type == FunctionType.SINK
    with pytest.raises(headwater.UnportableFunction, match="returns a tuple of 2"):
        headwater.Function.from_callable(pair)
    assert headwater.Function.from_callable(pair, outputs=["a", "b"]).spec.outputs == ["a", "b"]


def test_decorator_makes_a_function_that_still_calls(tmp_path: Path) -> None:
    file = tmp_path / "decorated.py"
    file.write_text(
        "import headwater\n\n@headwater.function(outputs=['doubled'], name='twice')\n"
        "def double(x: int):\n    return 2 * x\n"
    )
    (twice,) = headwater.functions_from_file(file)  # the decorated def, read from its file
    assert twice.metadata.name == "twice" and twice.spec.handler == "double"
    assert twice.spec.outputs == ["doubled"] and twice.spec.code.config_map_key_ref is not None
    assert twice(4) == 8


def test_functions_from_file_share_one_config_map_and_validate(tmp_path: Path) -> None:
    file = tmp_path / "steps.py"
    file.write_text(
        "from pathlib import Path\n\nSCALE = 2\n\n"
        "def _scaled(v):\n    return v * SCALE\n\n"
        "def read(source: Path, n: int = 3):\n    rows = open(source).read().split()[:n]\n"
        "    return rows\n\n"
        "def total(rows) -> float:\n    return _scaled(len(rows))\n"
    )
    fns = headwater.functions_from_file(file)
    assert [f.spec.handler for f in fns] == ["read", "total"]
    assert fns["read"].spec.outputs == ["rows"] and fns["total"].spec.outputs == ["total"]
    flow = headwater.Dataflow(
        "tally",
        nodes=[
            headwater.Node(fns["read"], inputs=["source", "n"]),
            headwater.Node("total", inputs={"rows": "rows"}, outputs=["y"]),
        ],
    )
    text = headwater.to_yaml(*fns, flow)
    assert text.count("kind: ConfigMap") == 1
    assert "- 'y'" in text  # kubectl would read a bare y as true
    (tmp_path / "out.yaml").write_text(text)
    loaded = load_manifests([tmp_path / "out.yaml"])
    assert loaded.dataflows["tally"].spec == flow.spec
    assert set(loaded.functions) == {"read", "total"}
    assert "def _scaled" in loaded.config_maps["steps.py"]["steps.py"].decode()
    with pytest.raises(headwater.UnportableFunction, match="did you mean 'read'"):
        headwater.Function.from_file(file, "raed")


def test_a_dataflow_validates_as_its_yaml_does(tmp_path: Path) -> None:
    fn = headwater.Function.from_callable(area)
    flow = headwater.Dataflow("areas", nodes=[headwater.Node(fn, inputs={"radius": "r"})])
    assert validate(flow.spec, {"area": fn.spec}) == []
    broken = headwater.Dataflow("broken", nodes=[headwater.Node(fn, inputs={"radus": "r"})])
    problems = validate(broken.spec, {"area": fn.spec})
    assert any("radus" in p.message for p in problems)
