""" "Did you mean": slips are always found; the slower similarity search has a budget."""

import pytest

from headwater.suggest import COMPARISON_BUDGET, Names, did_you_mean

KNOWN = ["filtered", "model", "filter-sales", "preprocessing-cor", "X", "x_train", "y_train"]


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("filterd", "filtered"),  # a letter dropped
        ("filtereed", "filtered"),  # added
        ("filtared", "filtered"),  # changed
        ("fitlered", "filtered"),  # two swapped
        ("Filtered", "filtered"),  # case
        ("filter_sales", "filter-sales"),  # _ for -
        ("x", "X"),  # case counts even for one letter
        ("y_trian", "y_train"),
    ],
)
def test_slips(typed: str, meant: str) -> None:
    assert Names(KNOWN).slip(typed) == meant


@pytest.mark.parametrize("typed", ["Y", "df", "model_path", "preprocess", "zzz", "filtered"])
def test_not_slips(typed: str) -> None:
    # One letter off a one-letter name means nothing; longer differences are no slip;
    # a name that exists is not its own suggestion.
    assert Names(KNOWN).slip(typed) is None


def test_closest_falls_back_to_similarity() -> None:
    names = Names(KNOWN)
    assert names.closest("preprocess") == "preprocessing-cor"
    assert names.closest("zzz") is None
    assert did_you_mean("filtr-sales", KNOWN) == "; did you mean 'filter-sales'?"
    assert did_you_mean("qqq", KNOWN) == ""


def test_ties_go_alphabetically() -> None:
    assert Names(["cat", "bat", "hat"]).slip("at") == "bat"


def test_the_worst_case_stays_within_budget_and_still_finds_slips() -> None:
    # Thousands of unknown names among thousands of known ones, none of them a slip
    # away until the very last: the similarity search stops at its budget, the slip
    # index does not.
    names = Names(f"transform-step-{i:05d}" for i in range(5000))
    for i in range(5000):
        names.closest(f"missing-{i:05d}")
    assert 0 <= names.comparisons_left < COMPARISON_BUDGET
    assert names.comparisons_left < len(names.names)
    assert names.closest("transform-stepp-04999") == "transform-step-04999"
