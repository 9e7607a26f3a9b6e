import base64
from pathlib import Path

import pytest

from headwater.manifests import ManifestError, field_path, load_manifests

FLOW = """
apiVersion: headwater.dev/v1alpha1
kind: Function
metadata: {name: double}
spec:
  handler: double
  code: {configMapKeyRef: {name: code, key: double.py}}
  params: [{name: x, type: value}]
  outputs: ["y"]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: code}
data:
  double.py: "def double(x):\\n    return 2 * x\\n"
binaryData:
  blob.bin: {blob}
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
data:
  token: {token}
stringData:
  user: ada
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ignored}
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_folder_of_multi_document_files(tmp_path: Path) -> None:
    text = FLOW.replace("{blob}", base64.b64encode(b"\x00\x01").decode())
    write(tmp_path, "flow.yaml", text.replace("{token}", base64.b64encode(b"s3cr3t").decode()))
    write(tmp_path, "notes.txt", "not a manifest")
    loaded = load_manifests([tmp_path])
    assert loaded.functions["double"].spec.code.config_map_key_ref.key == "double.py"
    assert loaded.config_maps["code"]["double.py"].startswith(b"def double")
    assert loaded.config_maps["code"]["blob.bin"] == b"\x00\x01"
    assert loaded.secrets["creds"] == {"token": b"s3cr3t", "user": b"ada"}
    assert loaded.folder_of("Function", "double") == tmp_path


def test_every_error_names_file_document_and_field(tmp_path: Path) -> None:
    bad = write(
        tmp_path,
        "bad.yaml",
        """
apiVersion: headwater.dev/v1alpha1
kind: Run
metadata: {name: r}
spec: {dataflow: d, retries: 12}
---
apiVersion: headwater.dev/v1alpha1
kind: Dataflow
metadata: {name: d}
spec:
  nodes:
    - {function: f, name: Not_A_Label}
---
apiVersion: headwater.dev/v1alpha1
kind: Dataset
metadata: {name: two-sources}
spec: {source: {uri: a.csv, inline: [1]}}
""",
    )
    with pytest.raises(ManifestError) as caught:
        load_manifests([bad])
    found = {(p.origin.document, p.path) for p in caught.value.problems}
    assert found == {(1, "spec.retries"), (2, "spec.nodes[0].name"), (3, "spec.source")}
    assert all(p.origin.file == bad for p in caught.value.problems)
    assert "less than or equal to 9" in str(caught.value)


def test_duplicate_names_and_unparsable_yaml(tmp_path: Path) -> None:
    run = (
        "apiVersion: headwater.dev/v1alpha1\nkind: Run\nmetadata: {name: r}\nspec: {dataflow: d}\n"
    )
    write(tmp_path, "a.yaml", run)
    write(tmp_path, "b.yaml", run)
    write(tmp_path, "c.yaml", "key: [unclosed\n")
    with pytest.raises(ManifestError) as caught:
        load_manifests([tmp_path])
    messages = [str(p) for p in caught.value.problems]
    assert any("already in" in m and "a.yaml" in m for m in messages)
    assert any("c.yaml" in m and "cannot read" in m for m in messages)


def test_field_path_reads_like_kubectl() -> None:
    assert field_path(("spec", "nodes", 2, "inputs", "list[str]")) == "spec.nodes[2].inputs"
