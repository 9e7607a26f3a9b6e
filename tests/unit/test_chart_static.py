"""What can be checked of the image and the chart without Docker or helm: the
entrypoints the chart and the Jobs use exist, the Dockerfile runs as non-root from
pinned bases, the chart's CRDs match the models, and every value is documented."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import yaml

from headwater.api import Run
from headwater.controller.jobs import job_manifest
from headwater.controller.settings import OperatorSettings
from headwater.crdgen import rendered_files
from headwater.manifests import load_manifests
from headwater.snapshot import Snapshot
from headwater.task import Task

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "headwater"
DOCKERFILE = ROOT / "operator" / "Dockerfile"


# The image.


def _stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuations joined), split into stages."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    stages: list[list[str]] = []
    for line in lines:
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def _args() -> dict[str, str]:
    found = re.findall(r"^ARG (\w+)=(\S+)", DOCKERFILE.read_text(), re.M)
    return dict(found)


def test_dockerfile_is_multi_stage_from_pinned_bases() -> None:
    stages = _stages()
    assert len(stages) >= 2, "a builder stage and a final stage"
    args = _args()
    for stage in stages:
        image = stage[0].split()[1]
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
        pinned = "@sha256:" in image or re.search(r":\d+\.\d+\.\d+[-\w.]*$", image)
        assert pinned, f"{image} is neither a digest nor an exact version tag"
        assert "python:3.11" in image and "slim-bookworm" in image, image


def test_final_stage_runs_as_non_root_and_holds_no_build_tools() -> None:
    final = _stages()[-1]
    users = [line.split()[1] for line in final if line.upper().startswith("USER ")]
    assert users, "the final stage sets USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"USER {users[-1]} must be a numeric non-root uid"
    assert int(uid) == 65532, "the same uid as the node Jobs' runAsUser"
    text = "\n".join(final)
    for tool in ("gcc", "build-essential", "apt-get install", "pip install", "make "):
        assert tool not in text, f"the final stage installs {tool!r}"
    assert any(line.startswith("COPY --from=") for line in final), "it copies the venv"
    builder = "\n".join(_stages()[0])
    assert "[examples]" in builder, "scikit-learn comes with the examples extra"
    for module in ("pandas", "pyarrow", "numpy", "sklearn", "headwater.runner"):
        assert module in builder, f"the build checks {module} imports"


def test_dockerignore_keeps_the_context_to_what_is_copied() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in lines
    for kept in ("!pyproject.toml", "!README.md", "!operator/headwater/"):
        assert kept in lines


def test_operator_entrypoint_the_chart_uses_works() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["operator"]["command"] == ["headwater", "operator"]
    bin_dir = Path(sys.executable).parent
    proc = subprocess.run(
        [str(bin_dir / "headwater"), "operator", "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    # Every option the chart passes exists.
    template = (CHART / "templates" / "_helpers.tpl").read_text()
    for option in set(re.findall(r'"(--[a-z-]+)[=%"]', template)):
        assert option in proc.stdout, f"the chart passes {option}, which the operator lacks"


def test_jobs_run_the_runner_module_of_the_same_package() -> None:
    assert importlib.util.find_spec("headwater.runner.__main__") is not None
    manifests = load_manifests([ROOT / "examples" / "tutorial"])
    run = next(iter(manifests.runs.values()))
    run = Run.model_validate(
        {**run.to_wire(), "metadata": {"name": run.metadata.name, "namespace": "ns", "uid": "u"}}
    )
    dataflow = manifests.dataflows[run.spec.dataflow].spec
    function = dataflow.nodes[0].function
    snapshot = Snapshot(dataflow=dataflow, functions={function: manifests.functions[function].spec})
    task = Task(run=run.metadata.name, node=function, handler=function, code="")
    job = job_manifest(run, function, function, task, snapshot, OperatorSettings(), None)
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][:3] == ["python", "-m", "headwater.runner"]
    assert job["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 65532


# The chart.


def test_chart_versions_follow_the_package() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert chart["appVersion"] == project["version"] == "0.1.0"
    assert chart["apiVersion"] == "v2"


def test_chart_crds_match_the_models() -> None:
    on_disk = {p.name: p.read_text() for p in (CHART / "crds").glob("*.yaml")}
    assert on_disk == rendered_files(), (
        "charts/headwater/crds drifted: run `headwater crds --out charts/headwater/crds`"
    )


def _leaves(values: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths of the documented values: maps are walked unless empty or free-form."""
    paths = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and not _free_form(path):
            paths += _leaves(value, f"{path}.")
        else:
            paths.append(path)
    return paths


FREE_FORM = {
    "resources",
    "livenessProbe",
    "readinessProbe",
    "podSecurityContext",
    "securityContext",
}


def _free_form(path: str) -> bool:
    return path in FREE_FORM


def test_every_value_is_commented_in_values_yaml() -> None:
    lines = (CHART / "values.yaml").read_text().splitlines()
    stack: list[tuple[int, str]] = []
    undocumented = []
    for index, line in enumerate(lines):
        match = re.match(r"^( *)([A-Za-z][\w-]*):", line)
        if not match:
            continue
        indent, key = len(match.group(1)), match.group(2)
        stack = [(i, k) for i, k in stack if i < indent]
        stack.append((indent, key))
        path = ".".join(k for _, k in stack)
        if any(path.startswith(f"{f}.") for f in FREE_FORM):
            continue
        value = line.split(":", 1)[1].strip()
        is_map = value == "" and index + 1 < len(lines)
        if not is_map and not lines[index - 1].strip().startswith("#"):
            undocumented.append(path)
    assert undocumented == []


def test_every_value_is_in_the_schema_and_the_readme() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = json.loads((CHART / "values.schema.json").read_text())
    readme = (CHART / "README.md").read_text()
    for path in _leaves(values):
        node = schema
        for key in path.split("."):
            assert key in node.get("properties", {}), f"{path} is not in values.schema.json"
            node = node["properties"][key]
        assert node.get("description"), f"{path} has no description in the schema"
        assert f"`{path}`" in readme, f"{path} is not in the README's values table"
    assert schema.get("additionalProperties") is False, "unknown top-level values are refused"


def test_schema_patterns_refuse_what_the_issue_names() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    url = schema["properties"]["artifactStore"]["properties"]["url"]["pattern"]
    for good in ("", "s3://b/p", "gs://b", "gcs://b", "az://c/p", "abfs://c"):
        assert re.match(url, good), good
    for bad in ("ftp://b", "file:///data", "http://x", "s3:/b", "b"):
        assert not re.match(url, bad), bad
    assert schema["properties"]["replicaCount"]["minimum"] == 0


def test_rbac_templates_have_no_wildcards() -> None:
    for path in (CHART / "templates").glob("*"):
        text = path.read_text()
        for line in text.splitlines():
            if re.search(r"^\s*-?\s*(verbs|resources|apiGroups)\s*:", line):
                assert '"*"' not in line and "'*'" not in line, f"{path.name}: {line}"
            assert not re.match(r'^\s*-\s*["\']?\*["\']?\s*$', line), f"{path.name}: {line}"


def test_deployment_is_hardened_and_its_replicas_elect_a_leader() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["replicaCount"] == 1
    template = (CHART / "templates" / "deployment.yaml").read_text()
    assert "type: RollingUpdate" in template and "POD_NAMESPACE" in template
    assert '"--leader-elect"' in (CHART / "templates" / "_helpers.tpl").read_text()
    assert "path: /healthz" in template and "port: health" in template
    pod, container = values["podSecurityContext"], values["securityContext"]
    assert pod["runAsNonRoot"] and pod["runAsUser"] == 65532
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["readOnlyRootFilesystem"] is True
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"] == {"drop": ["ALL"]}


def test_ci_values_cover_namespaced_and_object_store_modes() -> None:
    ci = {p.name: yaml.safe_load(p.read_text()) for p in (CHART / "ci").glob("*.yaml")}
    assert any(v.get("watchNamespaces") for v in ci.values())
    assert any((v.get("artifactStore") or {}).get("url") for v in ci.values())
