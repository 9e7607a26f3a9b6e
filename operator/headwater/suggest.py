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
"""Most difflib comparisons one `Names` makes. A comparison costs up to ~35 µs, so this
keeps the worst case (thousands of unknown names among thousands of known ones) under a
second; slips (`Names.slip`) are found by index and never run out."""
SHORTEST_EDITED = 3
"""Names shorter than this differ by one letter from too many others (`x`, `y`) for a
one-letter slip to mean anything; they still match another spelling of their case or
`-` / `_`."""


def normal(name: str) -> str:
    """Case and `-` versus `_` are the commonest slips: compare names without them."""
    return name.casefold().replace("-", "_")


def _variants(name: str) -> set[str]:
    # Two strings one edit apart share a string with at most one letter deleted from
    # each (a symmetric-deletion index), so one dict lookup per variant finds them.
    return {name, *(name[:i] + name[i + 1 :] for i in range(len(name)))}


def _one_edit(a: str, b: str) -> bool:
    """One letter added, dropped or changed, or two neighbours swapped."""
    if abs(len(a) - len(b)) > 1:
        return False
    start = 0
    while start < min(len(a), len(b)) and a[start] == b[start]:
        start += 1
    if len(a) == len(b):
        rest_a, rest_b = a[start:], b[start:]
        swapped = len(rest_a) >= 2 and rest_a[1::-1] == rest_b[:2] and rest_a[2:] == rest_b[2:]
        return rest_a[1:] == rest_b[1:] or swapped
    longer, shorter = (a, b) if len(a) > len(b) else (b, a)
    return longer[start + 1 :] == shorter[start:]


class Names:
    """The names that exist, indexed to find the one a mistyped name meant."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = sorted(set(names))
        self.comparisons_left = COMPARISON_BUDGET
        self._by_variant: dict[str, list[str]] = {}
        for name in self.names:
            for variant in _variants(normal(name)):
                self._by_variant.setdefault(variant, []).append(name)
        self._closest: dict[str, str | None] = {}

    def slip(self, name: str) -> str | None:
        """The existing name `name` is one slip away from: another case or `-` for `_`,
        or one letter added, dropped or changed, or two neighbours swapped."""
        typed = normal(name)
        hits = {
            found
            for variant in _variants(typed)
            for found in self._by_variant.get(variant, ())
            if found != name
        }
        same = sorted(h for h in hits if normal(h) == typed)
        if same:
            return same[0]
        long_enough = (h for h in hits if max(len(typed), len(h)) >= SHORTEST_EDITED)
        edited = sorted(h for h in long_enough if _one_edit(typed, normal(h)))
        if not edited:
            return None
        # The most similar of several; sorted first so that ties go alphabetically.
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
