"""The examples' generated ConfigMaps agree with their sources (src/, data/), and every
Dataset is reachable in a cluster from `kubectl apply -f examples/NAME/` alone.

Each example with generated ConfigMaps has a make_configmap.py whose MANIFESTS maps a
file name to the function building its text; regenerating in memory must give the
committed file byte for byte. If a test here fails after editing code or data, run
`python examples/NAME/make_configmap.py` and commit the result.
"""

import base64
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from headwater.manifests import load_manifests

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ALL_EXAMPLES = sorted(
    path.name for path in EXAMPLES.iterdir() if path.is_dir() and any(path.glob("*.yaml"))
)
"""Folders of manifests; examples/notebooks holds a notebook and its module, no YAML."""
GENERATED = {
    "rionowcast": {"configmap.yaml", "data-configmap.yaml"},
    "credit-scoring": {"data-configmap.yaml"},
}
SIZE_LIMIT = 900 * 1024


def make_script(example: str) -> ModuleType:
    path = EXAMPLES / example / "make_configmap.py"
    spec = importlib.util.spec_from_file_location(
        f"make_configmap_{example.replace('-', '_')}", path
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_examples_are_the_expected_ones() -> None:
    assert ALL_EXAMPLES == ["credit-scoring", "rionowcast", "text-processor", "tutorial"]


@pytest.mark.parametrize("example", sorted(GENERATED))
def test_make_script_declares_every_generated_file(example: str) -> None:
    assert set(make_script(example).MANIFESTS) == GENERATED[example]


@pytest.mark.parametrize(
    ("example", "file"),
    [(example, file) for example, files in sorted(GENERATED.items()) for file in sorted(files)],
)
def test_generated_configmap_matches_its_source(example: str, file: str) -> None:
    build = make_script(example).MANIFESTS[file]
    committed = (EXAMPLES / example / file).read_text()
    assert build() == committed, (
        f"examples/{example}/{file} is stale: run python examples/{example}/make_configmap.py"
    )
    assert len(committed.encode()) < SIZE_LIMIT


def test_code_configmap_holds_the_source_file() -> None:
    document = yaml.safe_load((EXAMPLES / "rionowcast" / "configmap.yaml").read_text())
    source = (EXAMPLES / "rionowcast" / "src" / "preprocessing.py").read_text()
    assert document["data"] == {"preprocessing.py": source}


@pytest.mark.parametrize("example", ["credit-scoring", "rionowcast"])
def test_data_configmap_holds_every_data_file(example: str) -> None:
    document = yaml.safe_load((EXAMPLES / example / "data-configmap.yaml").read_text())
    decoded = {key: base64.b64decode(value) for key, value in document["binaryData"].items()}
    files = {path.name: path.read_bytes() for path in (EXAMPLES / example / "data").iterdir()}
    assert decoded == files


def test_a_changed_source_makes_the_generated_text_differ(tmp_path: Path) -> None:
    """The comparison above is not vacuous: the builders read the folder they are given."""
    script = make_script("rionowcast")
    (tmp_path / "src").mkdir()
    (tmp_path / "data").mkdir()
    source = (EXAMPLES / "rionowcast" / "src" / "preprocessing.py").read_text()
    (tmp_path / "src" / "preprocessing.py").write_text(source + "\n# edited\n")
    for path in (EXAMPLES / "rionowcast" / "data").iterdir():
        (tmp_path / "data" / path.name).write_bytes(path.read_bytes())
    assert script.data_configmap(tmp_path) == script.data_configmap()
    (tmp_path / "data" / "model.npy").write_bytes(b"other weights")
    assert script.code_configmap(tmp_path) != script.code_configmap()
    assert script.data_configmap(tmp_path) != script.data_configmap()


@pytest.mark.parametrize("example", ALL_EXAMPLES)
def test_every_dataset_travels_with_the_manifests(example: str) -> None:
    """No Dataset points at a file: in a cluster a relative uri resolves against the
    (empty) artifact store. Each ConfigMap key a Dataset names exists in the folder."""
    manifests = load_manifests([EXAMPLES / example])
    for name, dataset in manifests.datasets.items():
        source = dataset.spec.source
        assert source.uri is None, f"Dataset {name} reads a file: {source.uri}"
        assert source.secret_key_ref is None
        if source.config_map_key_ref is not None:
            ref = source.config_map_key_ref
            assert ref.key in manifests.config_maps.get(ref.name, {}), f"Dataset {name}"
            assert dataset.spec.format is not None, f"Dataset {name} needs an explicit format"
