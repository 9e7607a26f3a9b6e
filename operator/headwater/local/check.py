"""Every check `headwater validate` and `headwater run` make before executing anything."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from headwater.local.resolve import ResolveError, resolve_functions, snapshot_for
from headwater.manifests import ManifestProblem, Manifests
from headwater.validation import Problem, check_parameters, validate, warnings


@dataclass
class Findings:
    errors: list[ManifestProblem] = field(default_factory=list)
    """What stops a Run: `validate` exits 2 and `run` runs nothing."""
    warnings: list[ManifestProblem] = field(default_factory=list)
    """What is legal but probably a mistake; printed, never blocking."""


def check(manifests: Manifests, scratch: Path) -> Findings:
    """All problems at once: graph and code of every Dataflow, bindings of every Run,
    and every ConfigMap, Secret, Dataset and file a Run needs."""
    functions, problems = resolve_functions(manifests)
    findings = Findings(errors=_placed(manifests, problems))
    inline = {
        name: dataset.spec.source.inline
        for name, dataset in manifests.datasets.items()
        if dataset.spec.source.inline is not None
    }
    checked_with_run: set[str] = set()
    for run in manifests.runs.values():
        dataflow = manifests.dataflows.get(run.spec.dataflow)
        if dataflow is not None:
            checked_with_run.add(run.spec.dataflow)
            problems = validate(
                dataflow.spec,
                functions,
                run.spec,
                set(manifests.datasets),
                dataflow_name=run.spec.dataflow,
                run_name=run.metadata.name,
            )
            problems += check_parameters(
                dataflow.spec, functions, run.spec, inline, run_name=run.metadata.name
            )
            findings.errors.extend(_placed(manifests, problems))
        try:
            snapshot_for(run, manifests, scratch)
        except ResolveError as error:
            # Function problems were reported above, once for all Runs.
            rest = [p for p in error.problems if not p.resource.startswith("Function/")]
            findings.errors.extend(_placed(manifests, rest))
    for name, dataflow in manifests.dataflows.items():
        if name not in checked_with_run:
            problems = validate(dataflow.spec, functions, dataflow_name=name)
            findings.errors.extend(_placed(manifests, problems))
        findings.warnings.extend(
            _placed(manifests, warnings(dataflow.spec, functions, dataflow_name=name))
        )
    findings.errors = _unique(findings.errors)
    return findings


def _placed(manifests: Manifests, problems: Iterable[Problem]) -> list[ManifestProblem]:
    """Each problem placed in the file that declared the object at fault."""
    placed = []
    for problem in problems:
        kind, _, name = problem.resource.partition("/")
        origin = manifests.origin(kind, name)
        placed.append(ManifestProblem(origin, problem.path, problem.message, problem.resource))
    return placed


def _unique(findings: list[ManifestProblem]) -> list[ManifestProblem]:
    """Two Runs of one Dataflow report its graph problems once."""
    return list(dict.fromkeys(findings))
