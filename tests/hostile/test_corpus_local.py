"""The local side over the hostile corpus: `headwater validate` gives each case the
verdict recorded for it, and the models reject everything the API server rejects, so
that a manifest valid locally is never refused at apply time for a bound (and the other
way round). Each case must finish promptly: `pytest --durations` shows any that do not."""

from pathlib import Path

import pytest
from corpus import Case, Expected, Rejected, cases, to_json
from pydantic import ValidationError

from headwater.api import RESOURCE_KINDS
from headwater.local.check import check
from headwater.manifests import ManifestError, load_manifests

CASES = {case.name: case for case in cases()}


def validate_locally(case: Case, folder: Path) -> list[str]:
    """What `headwater validate` prints for the case's manifests, one line a problem."""
    manifests = folder / "manifests"
    manifests.mkdir()
    for index, document in enumerate(case.documents):
        (manifests / f"{index:02}.json").write_text(to_json(document))
    try:
        loaded = load_manifests([manifests])
    except ManifestError as error:
        return [str(problem) for problem in error.problems]
    return [str(problem) for problem in check(loaded, folder).errors]


@pytest.mark.parametrize("name", sorted(CASES))
def test_headwater_validate_gives_the_recorded_verdict(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    problems = validate_locally(case, tmp_path)
    if case.local is None:
        assert problems == []
    else:
        assert problems, "headwater validate found nothing wrong"
        assert any(case.local in problem for problem in problems), problems[:5]
        # One line a problem, none listing thousands of names.
        assert max(map(len, problems)) < 2000, max(problems, key=len)[:300]


@pytest.mark.parametrize(
    "name", sorted(n for n, c in CASES.items() if isinstance(c.verdict, Rejected))
)
def test_the_models_reject_what_the_api_server_rejects(name: str) -> None:
    case = CASES[name]
    model = RESOURCE_KINDS[case.hostile["kind"]]
    with pytest.raises(ValidationError):
        model.model_validate(case.hostile)


@pytest.mark.parametrize(
    "name", sorted(n for n, c in CASES.items() if isinstance(c.verdict, Expected))
)
def test_setup_objects_are_valid_models(name: str) -> None:
    """Accepted cases: everything but the hostile object must be valid, so that the
    condition is about the hostile object alone."""
    case = CASES[name]
    for document in case.setup:
        if document["kind"] in RESOURCE_KINDS:
            RESOURCE_KINDS[document["kind"]].model_validate(document)
    verdict = case.verdict
    assert isinstance(verdict, Expected)
    assert (verdict.kind, verdict.name) == (case.hostile["kind"], case.hostile["metadata"]["name"])


def test_case_and_object_names_are_unique_and_fit_a_run_name() -> None:
    objects = [(d["kind"], d["metadata"]["name"]) for c in CASES.values() for d in c.documents]
    assert len(objects) == len(set(objects))
    assert max(len(name) for _, name in objects) <= 63
