"""The closest existing name to a mistyped one, for "did you mean …?".

One suggester for every message, local or in a cluster, so that the same mistake reads
the same everywhere. Pure and cheap: a validation of thousands of nodes asks it
thousands of times, on every change of a Function in the namespace.
"""

import difflib
from collections.abc import Iterable

SIMILARITY = 0.6
"""difflib's ratio under which a name is too different to be worth suggesting."""
COMPARISON_BUDGET = 20_000
"""Most difflib comparisons one `Names` makes. A comparison costs up to ~35 µs, so the
worst case (thousands of unknown names among thousands of known ones) spends well under
a second on them; slips (`Names.slip`) are found by index and never run out."""
SHORTEST_EDITED = 3
"""Names shorter than this differ by one letter from too many others (`x`, `y`) for a
one-letter slip to mean anything; they still match another spelling of their case or
`-` / `_`."""


def normal(name: str) -> str:
    """Case and `-` versus `_` are the commonest slips: compare names without them."""
    return name.casefold().replace("-", "_")


def _variants(name: str) -> set[str]:
    # Two names a slip apart share a string with at most one letter dropped from each
    # (a symmetric-deletion index): one dict lookup per variant finds them.
    return {name, *(name[:i] + name[i + 1 :] for i in range(len(name)))}


class Names:
    """The names that exist, indexed to find the one a mistyped name meant."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = sorted(set(names))
        self.comparisons_left = COMPARISON_BUDGET
        self._index: dict[str, list[str]] | None = None
        self._closest: dict[str, str | None] = {}

    def slip(self, name: str) -> str | None:
        """The existing name `name` is one slip away from: the same once at most one
        letter is dropped from each, after case and `-` versus `_` — a letter added,
        dropped, changed or moved one place."""
        if self._index is None:
            # Built on the first question, once: most validations ask none.
            self._index = {}
            for known in self.names:
                for variant in _variants(normal(known)):
                    self._index.setdefault(variant, []).append(known)
        typed = normal(name)
        hits = sorted(
            {found for v in _variants(typed) for found in self._index.get(v, ()) if found != name}
        )
        same = [h for h in hits if normal(h) == typed]
        if same:
            return same[0]
        edited = [h for h in hits if max(len(typed), len(h)) >= SHORTEST_EDITED]
        if len(edited) <= 1:
            return edited[0] if edited else None
        # The most similar of several; max keeps the first, so ties go alphabetically.
        return max(edited, key=lambda h: difflib.SequenceMatcher(None, name, h).ratio())

    def closest(self, name: str) -> str | None:
        """A slip away, else the most similar name by difflib while the budget lasts."""
        if name not in self._closest:
            found = self.slip(name)
            if found is None and len(self.names) <= self.comparisons_left:
                self.comparisons_left -= len(self.names)
                others = [n for n in self.names if n != name]
                matches = difflib.get_close_matches(name, others, 1, SIMILARITY)
                found = matches[0] if matches else None
            self._closest[name] = found
        return self._closest[name]

    def did_you_mean(self, name: str) -> str:
        """`; did you mean 'x'?` to end a message with, or nothing."""
        found = self.closest(name)
        return f"; did you mean {found!r}?" if found is not None else ""


def did_you_mean(name: str, names: Iterable[str]) -> str:
    """`Names(names).did_you_mean(name)`, for a single question."""
    return Names(names).did_you_mean(name)
