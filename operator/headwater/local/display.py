"""What a person sees while a local run goes: a live progress line, then a summary."""

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from headwater.api import NodePhase, RunPhase, RunStatus

PHASE_STYLES = {
    NodePhase.PENDING: "dim",
    NodePhase.RUNNING: "cyan",
    NodePhase.SUCCEEDED: "green",
    NodePhase.FAILED: "red",
    NodePhase.SKIPPED: "yellow",
    NodePhase.CANCELLED: "magenta",
}
RUNNING_SHOWN = 8


class RunDisplay:
    """A rich Live view: a progress bar over nodes, counts by phase and the running nodes."""

    def __init__(self, run: str, total: int, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn(f"[bold]{run}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        self.task = self.progress.add_task(run, total=total)
        self.details = Text()
        self.live = Live(Group(self.progress, self.details), console=console, transient=False)

    def __enter__(self) -> "RunDisplay":
        self.live.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.live.__exit__(kind, error, trace)

    def update(self, status: RunStatus) -> None:
        counts = Counter(node.phase for node in status.nodes.values())
        finished = sum(n for phase, n in counts.items() if phase.finished)
        self.progress.update(self.task, completed=finished)
        running = [name for name, node in status.nodes.items() if node.phase == NodePhase.RUNNING]
        line = Text()
        for phase in NodePhase:
            if counts[phase]:
                line.append(f"{phase.value} {counts[phase]}  ", style=PHASE_STYLES[phase])
        if running:
            shown = ", ".join(running[:RUNNING_SHOWN])
            more = (
                f" and {len(running) - RUNNING_SHOWN} more" if len(running) > RUNNING_SHOWN else ""
            )
            line.append(f"\nrunning: {shown}{more}", style="cyan")
        self.details = line
        self.live.update(Group(self.progress, self.details))


def summary_table(run: str, status: RunStatus) -> Table:
    """One row per node: phase, attempts, duration, message."""
    style = {RunPhase.SUCCEEDED: "green", RunPhase.FAILED: "red", RunPhase.CANCELLED: "magenta"}
    title = Text.assemble((f"{run}: ", "bold"), (status.phase.value, style.get(status.phase, "")))
    if status.duration:
        title.append(f" in {status.duration}")
    table = Table(title=title, title_justify="left")
    table.add_column("node")
    table.add_column("phase")
    table.add_column("attempts", justify="right")
    table.add_column("seconds", justify="right")
    table.add_column("message", overflow="fold")
    for name, node in status.nodes.items():
        seconds = (
            f"{(node.finished_at - node.started_at).total_seconds():.1f}"
            if node.started_at and node.finished_at
            else ""
        )
        table.add_row(
            name,
            Text(node.phase.value, style=PHASE_STYLES[node.phase]),
            # The status leaves out attempts when there was one.
            str(node.attempts or (1 if node.started_at else "")),
            seconds,
            node.message or "",
        )
    return table


def failure_logs(status: RunStatus, node_dir: Callable[[str], Path]) -> Iterator[str]:
    """For each failed node, where its whole traceback is: the table shows the last line."""
    for name, node in status.nodes.items():
        if node.phase == NodePhase.FAILED:
            yield f"node {name} failed; full traceback in {node_dir(name) / 'node.log'}"
