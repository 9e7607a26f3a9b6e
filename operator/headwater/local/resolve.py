"""Freeze a Run's snapshot from manifests on disk: ConfigMap code becomes inline source,
dataset sources become paths the runner can read."""

from pathlib import Path

from headwater.api import Dataset, FunctionSpec, Run
from headwater.artifacts import content, infer_format, is_local
from headwater.manifests import Manifests
from headwater.references import MissingKey, key_value, with_inline_code
from headwater.snapshot import ResolvedDataset, Snapshot
from headwater.suggest import did_you_mean
from headwater.validation import Problem, ProblemKind


class ResolveError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def function_source(
    name: str, spec: FunctionSpec, manifests: Manifests
) -> tuple[FunctionSpec, list[Problem]]:
    """The spec with ConfigMap code read into `code.inline`."""
    try:
        return with_inline_code(spec, manifests.config_maps.get), []
    except MissingKey as missing:
        where = f"Function/{name}"
        return spec, [
            Problem("spec.code.configMapKeyRef", ProblemKind.NOT_FOUND, where, str(missing))
        ]


def resolve_functions(manifests: Manifests) -> tuple[dict[str, FunctionSpec], list[Problem]]:
    functions: dict[str, FunctionSpec] = {}
    problems: list[Problem] = []
    for name, function in manifests.functions.items():
        functions[name], found = function_source(name, function.spec, manifests)
        problems.extend(found)
    return functions, problems


def resolve_dataset(
    dataset: Dataset, manifests: Manifests, scratch: Path
) -> tuple[ResolvedDataset | None, list[Problem]]:
    """Where the dataset's bytes are on this machine; ConfigMap and Secret keys are
    written under `scratch` so every source reaches the runner as a file."""
    name = dataset.metadata.name
    source = dataset.spec.source
    where = f"Dataset/{name}"
    if source.inline is not None:
        return ResolvedDataset(
            format=dataset.spec.format or "json",
            inline=source.inline,
            is_inline=True,
            content=content.of_inline(source.inline),
        ), []
    if source.uri is not None:
        uri = source.uri
        if is_local(uri):
            relative = uri.removeprefix("file://")
            path = (
                Path(relative)
                if Path(relative).is_absolute()
                else manifests.folder_of("Dataset", name) / relative
            )
            if not path.exists():
                return None, [
                    Problem(
                        "spec.source.uri", ProblemKind.NOT_FOUND, where, f"{path} does not exist"
                    )
                ]
            uri = str(path.resolve())
            known: str | None = content.of_file(uri)
        else:
            known = content.of_remote(uri)
        format = dataset.spec.format or infer_format(uri)
        return ResolvedDataset(uri=uri, format=format, content=known), []
    ref = source.config_map_key_ref or source.secret_key_ref
    assert ref is not None
    kind, table = (
        ("ConfigMap", manifests.config_maps)
        if source.config_map_key_ref
        else ("Secret", manifests.secrets)
    )
    field = "configMapKeyRef" if source.config_map_key_ref else "secretKeyRef"
    try:
        data = key_value(kind, ref, table.get)
    except MissingKey as missing:
        return None, [Problem(f"spec.source.{field}", ProblemKind.NOT_FOUND, where, str(missing))]
    target = scratch / name / ref.key
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    format = dataset.spec.format or infer_format(ref.key)
    return ResolvedDataset(uri=str(target), format=format, content=content.of_bytes(data)), []


def snapshot_for(run: Run, manifests: Manifests, scratch: Path) -> Snapshot:
    """Everything `run` executes, frozen now; raises ResolveError naming each problem."""
    problems: list[Problem] = []
    dataflow = manifests.dataflows.get(run.spec.dataflow)
    if dataflow is None:
        raise ResolveError(
            [
                Problem(
                    "spec.dataflow",
                    ProblemKind.NOT_FOUND,
                    f"Run/{run.metadata.name}",
                    f"Dataflow {run.spec.dataflow} not found"
                    + did_you_mean(run.spec.dataflow, manifests.dataflows),
                )
            ]
        )
    functions, found = resolve_functions(manifests)
    problems.extend(found)
    used = {node.function for node in dataflow.spec.nodes}
    datasets: dict[str, ResolvedDataset] = {}
    for input_name, binding in run.spec.parameters.items():
        if binding.dataset is None:
            continue
        dataset = manifests.datasets.get(binding.dataset)
        if dataset is None:
            problems.append(
                Problem(
                    f"spec.parameters.{input_name}.dataset",
                    ProblemKind.NOT_FOUND,
                    f"Run/{run.metadata.name}",
                    f"Dataset {binding.dataset} not found"
                    + did_you_mean(binding.dataset, manifests.datasets),
                )
            )
            continue
        resolved, found = resolve_dataset(dataset, manifests, scratch)
        problems.extend(found)
        if resolved is not None:
            datasets[binding.dataset] = resolved
    if problems:
        raise ResolveError(problems)
    return Snapshot(
        dataflow=dataflow.spec,
        functions={name: spec for name, spec in functions.items() if name in used},
        datasets=datasets,
    )
