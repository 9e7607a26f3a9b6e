"""Every check `headwater validate` and `headwater run` make before executing anything."""

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from headwater.local.resolve import ResolveError, resolve_functions, snapshot_for
from headwater.manifests import Manifests
from headwater.validation import Problem, validate


@dataclass(frozen=True)
class Finding:
    """One problem, placed where the user wrote the thing at fault."""

    where: str
    path: str
    message: str

    def __str__(self) -> str:
        at = f" at {self.path}" if self.path else ""
        return f"{self.where}{at}: {self.message}"


def _where(manifests: Manifests, resource: str) -> str:
    kind, _, name = resource.partition("/")
    origin = manifests.origin(kind, name)
    return f"{origin}: {resource}" if origin else resource


def check(manifests: Manifests, scratch: Path) -> list[Finding]:
    """All problems at once: graph and code of every Dataflow, bindings of every Run,
    and every ConfigMap, Secret, Dataset and file a Run needs."""
    functions, problems = resolve_functions(manifests)
    findings = _findings(manifests, problems)
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
            findings.extend(_findings(manifests, problems))
        try:
            snapshot_for(run, manifests, scratch)
        except ResolveError as error:
            # Function problems were reported above, once for all Runs.
            rest = [p for p in error.problems if not p.resource.startswith("Function/")]
            findings.extend(_findings(manifests, rest))
    for name, dataflow in manifests.dataflows.items():
        if name not in checked_with_run:
            problems = validate(dataflow.spec, functions, dataflow_name=name)
            findings.extend(_findings(manifests, problems))
    return _unique(findings)


def _findings(manifests: Manifests, problems: Iterable[Problem]) -> list[Finding]:
    return [Finding(_where(manifests, p.resource), p.path, p.message) for p in problems]


def _unique(findings: list[Finding]) -> list[Finding]:
    """Two Runs of one Dataflow report its graph problems once."""
    return list(dict.fromkeys(findings))
