"""A live view of a Run while `wait` waits: the local executor's progress bar in a
terminal, an updating table in Jupyter (one display, redrawn in place: no widget
library needed), and the per-node table once it ends."""

import io
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

from rich.console import Console, Group, RenderableType
from rich.text import Text

from headwater.api import RunStatus
from headwater.local.display import RunDisplay, summary_table

TABLE_UP_TO = 60
"""Dataflows with more nodes show counts only while running: a table of thousands of
rows redrawn every second helps nobody."""
HTML_PRE = (
    '<pre style="white-space:pre;overflow-x:auto;line-height:1.3;font-family:monospace">'
    "{code}</pre>"
)

Show = Callable[[RunStatus], None]


@contextmanager
def progress(run: str, enabled: bool, console: Console | None = None) -> Iterator[Show]:
    """A function to call with each status seen; it draws nothing when not `enabled`."""
    if not enabled:
        yield lambda _status: None
        return
    console = console or Console(stderr=True)
    if console.is_jupyter:
        with _jupyter(run) as show:
            yield show
        return
    with _terminal(run, console) as show:
        yield show


@contextmanager
def _terminal(run: str, console: Console) -> Iterator[Show]:
    last: list[RunStatus] = []
    with ExitStack() as stack:
        display: list[RunDisplay] = []

        def show(status: RunStatus) -> None:
            last[:] = [status]
            if not display and status.nodes:
                display.append(stack.enter_context(RunDisplay(run, len(status.nodes), console)))
            if display:
                display[0].update(status)

        yield show
    if last and last[0].finished_at is not None:
        console.print(summary_table(run, last[0]))


def _view(run: str, status: RunStatus) -> RenderableType:
    if len(status.nodes) <= TABLE_UP_TO:
        return summary_table(run, status)
    counts = status.node_counts
    line = f"{run}: {status.phase.value} {status.progress or ''}"
    if counts is not None:
        shown = {k: v for k, v in counts.model_dump().items() if v}
        line += "  " + "  ".join(f"{k} {v}" for k, v in shown.items())
    return Group(Text(line))


@contextmanager
def _jupyter(run: str) -> Iterator[Show]:
    from IPython.display import display

    handle = display(_Rendered(Text(f"{run}: waiting for its status")), display_id=True)

    def show(status: RunStatus) -> None:
        if handle is not None:
            handle.update(_Rendered(_view(run, status)))

    yield show


class _Rendered:
    """A rich renderable as Jupyter shows it: HTML for the notebook, text for the rest."""

    def __init__(self, renderable: RenderableType) -> None:
        console = Console(record=True, file=io.StringIO(), width=120, force_jupyter=False)
        console.print(renderable)
        self.text = console.export_text(clear=False)
        self.html = console.export_html(inline_styles=True, code_format=HTML_PRE)

    def __repr__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        return self.html
