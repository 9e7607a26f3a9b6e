"""The CRDs in crds/ are generated from the models; they must not drift."""

from pathlib import Path

import yaml

from headwater.crdgen import KINDS, crd, rendered_files

CRD_FOLDER = Path(__file__).parents[2] / "crds"


def test_crd_files_match_the_models() -> None:
    on_disk = {p.name: p.read_text() for p in CRD_FOLDER.glob("*.yaml")}
    assert on_disk == rendered_files(), "crds/ drifted from the models: run `headwater crds`"


def _walk(schema: dict, path: str = "") -> list[str]:
    """Paths of schema nodes that are not structural: every node needs a type or an
    explicit escape hatch, and no $ref or anyOf may survive."""
    bad = []
    escapes = ("type", "x-kubernetes-preserve-unknown-fields", "x-kubernetes-int-or-string")
    if not any(key in schema for key in escapes):
        bad.append(path or "<root>")
    if "$ref" in schema or "anyOf" in schema:
        bad.append(path)
    for name, sub in schema.get("properties", {}).items():
        bad += _walk(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        bad += _walk(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        bad += _walk(schema["additionalProperties"], f"{path}{{}}")
    return bad


def _schema(index: int) -> dict:
    return crd(KINDS[index])["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def test_schemas_are_structural_and_documented() -> None:
    for index, kind in enumerate(KINDS):
        schema = _schema(index)
        assert _walk(schema) == [], kind.name
        spec = schema["properties"]["spec"]
        undocumented = [n for n, s in spec["properties"].items() if not s.get("description")]
        assert undocumented == [], f"{kind.name}.spec fields without description"


def test_every_crd_has_status_subresource_names_and_category() -> None:
    for kind in KINDS:
        document = yaml.safe_load(rendered_files()[f"{kind.plural}.headwater.dev.yaml"])
        version = document["spec"]["versions"][0]
        assert version["subresources"] == {"status": {}}
        assert "headwater" in document["spec"]["names"]["categories"]
        assert document["spec"]["names"]["shortNames"]
        assert version["additionalPrinterColumns"]


def test_bounds_and_rules_reach_the_schema() -> None:
    run = _schema(3)
    retries = run["properties"]["spec"]["properties"]["retries"]
    assert (retries["minimum"], retries["maximum"]) == (0, 9)
    binding = run["properties"]["spec"]["properties"]["parameters"]["additionalProperties"]
    assert binding["oneOf"] == [{"required": ["dataset"]}, {"required": ["value"]}]
    source = _schema(0)["properties"]["spec"]["properties"]["source"]
    assert len(source["oneOf"]) == 4
    assert run["x-kubernetes-validations"][0]["rule"] == "size(self.metadata.name) <= 63"
    phases = run["properties"]["status"]["properties"]["phase"]["enum"]
    assert phases == ["Pending", "Running", "Succeeded", "Failed", "Cancelled"]


def test_the_api_server_defaults_a_functions_type_and_rejects_sinks_with_outputs() -> None:
    spec = _schema(1)["properties"]["spec"]
    assert spec["properties"]["type"]["default"] == "transformer"
    [rule] = spec["x-kubernetes-validations"]
    assert rule["rule"] == "self.type != 'sink' || !has(self.outputs) || size(self.outputs) == 0"
    param = spec["properties"]["params"]["items"]["properties"]["schema"]
    assert param["type"] == "object" and param["x-kubernetes-preserve-unknown-fields"]
    assert "JSON Schema" in param["description"]
