"""Per-node overhead of headwater's local executor, beside Kedro's runners.

Graphs of no-op nodes — a chain (each node reads the one before), a fan-out (one source,
then N nodes that all read it) and a wide fan-out of 1,000 — run by:

- headwater: `headwater run DIR --parallel P --output json` as a subprocess, on
  manifests generated into a temporary folder (Functions with inline no-op code, a
  Dataflow, a Run). Every node is a separate process — forked from the fork server, or
  with `--cold` also a fresh interpreter (HEADWATER_COLD_NODES=1) — that loads its
  inputs from and writes its outputs to the local artifact store, as in a cluster each
  is a Pod; the figure is the price of that isolation.
- Kedro's SequentialRunner, ThreadRunner and ParallelRunner (P workers), in-process,
  on the chain and the fan-out with in-memory datasets (not on the wide fan-out: its
  ParallelRunner would take minutes).

"total s" is wall time. For headwater it includes the CLI's start-up (reading and
checking manifests), measured alone on a one-node graph and reported as "startup";
"per node ms" is then (total - startup) / (nodes - 1). For Kedro it is total / nodes.
"CPU per node ms" is the same with the CPU time of the benchmark and of every process it
waited for (driver, fork server, nodes, Kedro's workers): it moves much less than wall
time when others share the machine. Prints a table; asserts nothing. Needs
`pip install 'headwater[bench]'` (Kedro).

    python bench/local_overhead.py              # chain 50, fan-out 200 and 1,000, P = CPUs
    python bench/local_overhead.py --chain 20 --fanout 50 --wide 0 --parallel 4 --repeat 3
"""

import argparse
import json
import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

SOURCE_CODE = "def source():\n    return 0\n"
NOOP_CODE = "def noop(x):\n    return x\n"
COLD_VARIABLE = "HEADWATER_COLD_NODES"
"""Set to 1, every node is a cold `python -m headwater.runner` process (no fork server)."""


# --- graphs --------------------------------------------------------------------------
# A graph is a list of (node name, input name or None, output name).


def chain(n):
    return [(f"n{i:04d}", f"v{i - 1:04d}" if i else None, f"v{i:04d}") for i in range(n)]


def fan_out(n):
    return [("root", None, "v")] + [(f"f{i:04d}", "v", f"o{i:04d}") for i in range(n)]


# --- headwater -----------------------------------------------------------------------


def manifests(graph, name, parallel):
    functions = [
        {
            "apiVersion": "headwater.dev/v1alpha1",
            "kind": "Function",
            "metadata": {"name": "bench-source"},
            "spec": {
                "handler": "source",
                "type": "source",
                "code": {"inline": SOURCE_CODE},
                "outputs": ["value"],
            },
        },
        {
            "apiVersion": "headwater.dev/v1alpha1",
            "kind": "Function",
            "metadata": {"name": "bench-noop"},
            "spec": {
                "handler": "noop",
                "code": {"inline": NOOP_CODE},
                "params": [{"name": "x", "type": "artifact"}],
                "outputs": ["value"],
            },
        },
    ]
    nodes = [
        {"name": node, "function": "bench-source", "outputs": [out]}
        if source is None
        else {"name": node, "function": "bench-noop", "inputs": {"x": source}, "outputs": [out]}
        for node, source, out in graph
    ]
    dataflow = {
        "apiVersion": "headwater.dev/v1alpha1",
        "kind": "Dataflow",
        "metadata": {"name": name},
        "spec": {"nodes": nodes},
    }
    run = {
        "apiVersion": "headwater.dev/v1alpha1",
        "kind": "Run",
        "metadata": {"name": f"{name}-bench"},
        "spec": {"dataflow": name, "parallelism": parallel},
    }
    return [*functions, dataflow, run]


def headwater_command():
    found = shutil.which("headwater")
    if found:
        return [found]
    return [sys.executable, "-c", "from headwater.cli import main; main()"]


def run_headwater(graph, name, parallel, scratch, cold=False):
    folder = scratch / name
    folder.mkdir(parents=True)
    (folder / "bench.yaml").write_text(
        yaml.safe_dump_all(manifests(graph, name, parallel), sort_keys=False)
    )
    command = [
        *headwater_command(),
        "run",
        str(folder),
        "--parallel",
        str(parallel),
        "--output",
        "json",
        "--workdir",
        str(scratch / f"{name}-work"),
    ]
    env = {**os.environ, COLD_VARIABLE: "1"} if cold else None
    clocks = start_clocks()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    elapsed = read_clocks(clocks)
    try:
        status = json.loads(done.stdout)
    except json.JSONDecodeError:
        status = {}
    if done.returncode != 0 or status.get("phase") != "Succeeded":
        tail = "\n".join(done.stderr.splitlines()[-15:])
        raise RuntimeError(f"headwater run of {name} failed ({done.returncode}):\n{tail}")
    return elapsed


# --- Kedro ---------------------------------------------------------------------------


def source():
    return 0


def noop(x):
    return x


KEDRO_RUNNERS = ("SequentialRunner", "ThreadRunner", "ParallelRunner")


def run_kedro(graph, runner_name, parallel):
    from kedro.io import DataCatalog
    from kedro.pipeline import Pipeline, node
    from kedro.runner import ParallelRunner, SequentialRunner, ThreadRunner

    pipeline = Pipeline(
        [
            node(source, None, out, name=name) if inp is None else node(noop, inp, out, name=name)
            for name, inp, out in graph
        ]
    )
    if runner_name == "ParallelRunner":
        from kedro.io import SharedMemoryDataCatalog

        catalog, runner = SharedMemoryDataCatalog(), ParallelRunner(max_workers=parallel)
    elif runner_name == "ThreadRunner":
        catalog, runner = DataCatalog(), ThreadRunner(max_workers=parallel)
    else:
        catalog, runner = DataCatalog(), SequentialRunner()
    clocks = start_clocks()
    runner.run(pipeline, catalog)
    return read_clocks(clocks)


# --- main ----------------------------------------------------------------------------


def cpu_seconds():
    """CPU time of this process and of every descendant that has been waited for: the
    driver, the fork server and the nodes of a headwater run, Kedro's worker processes."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def start_clocks():
    return time.perf_counter(), cpu_seconds()


def read_clocks(clocks):
    """(wall seconds, CPU seconds) since `start_clocks()`."""
    wall, cpu = clocks
    return time.perf_counter() - wall, cpu_seconds() - cpu


def best(measures):
    """The least wall time and the least CPU time of several runs."""
    return min(wall for wall, _ in measures), min(cpu for _, cpu in measures)


def headwater_rows(graphs, parallel, repeat, scratch, cold):
    """Rows for headwater on each graph, the startup (a one-node run) first."""
    mode = "cold" if cold else "fork"
    runs = [run_headwater(chain(1), f"single-{mode}-{i}", 1, scratch, cold) for i in range(repeat)]
    startup, startup_cpu = best(runs)
    rows = [
        (
            "single node",
            f"headwater {mode} (startup)",
            1,
            startup,
            startup * 1000,
            startup_cpu * 1000,
        )
    ]
    print(f"headwater {mode} startup (one-node run): {startup:.2f} s", file=sys.stderr)
    for label, graph in graphs:
        nodes = len(graph)
        runs = [
            run_headwater(graph, f"{label}-{mode}-{i}", parallel, scratch, cold)
            for i in range(repeat)
        ]
        total, cpu = best(runs)
        per_node = (total - startup) / max(nodes - 1, 1) * 1000
        cpu_per_node = (cpu - startup_cpu) / max(nodes - 1, 1) * 1000
        executor = f"headwater {mode} --parallel {parallel}"
        rows.append((label, executor, nodes, total, per_node, cpu_per_node))
        print(f"{label}: headwater {mode} {total:.2f} s", file=sys.stderr)
    return rows


def kedro_rows(graphs, parallel, repeat):
    rows = []
    for label, graph in graphs:
        nodes = len(graph)
        for runner in KEDRO_RUNNERS:
            total, cpu = best([run_kedro(graph, runner, parallel) for _ in range(repeat)])
            name = runner if runner == "SequentialRunner" else f"{runner} ({parallel})"
            rows.append(
                (label, f"kedro {name}", nodes, total, total / nodes * 1000, cpu / nodes * 1000)
            )
            print(f"{label}: kedro {runner} {total:.2f} s", file=sys.stderr)
    return rows


def print_table(rows, repeat):
    header = ("graph", "executor", "nodes", "total s", "per node ms", "CPU per node ms")
    lines = [header] + [
        (g, e, str(n), f"{t:.2f}", f"{p:.1f}", f"{c:.1f}") for g, e, n, t, p, c in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    print(f"cores: {os.cpu_count()}, python {sys.version.split()[0]}, repeat {repeat}")
    for index, line in enumerate(lines):
        print(
            "  ".join(
                cell.ljust(w) if i < 2 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(line, widths, strict=True))
            )
        )
        if index == 0:
            print("  ".join("-" * w for w in widths))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chain", type=int, default=50, help="nodes in the chain")
    parser.add_argument("--fanout", type=int, default=200, help="nodes reading the source")
    parser.add_argument(
        "--wide", type=int, default=1000, help="nodes of the big fan-out, headwater only (0: none)"
    )
    parser.add_argument("--parallel", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--repeat", type=int, default=1, help="runs per figure; best is kept")
    parser.add_argument(
        "--cold", action="store_true", help=f"also run headwater with {COLD_VARIABLE}=1"
    )
    parser.add_argument("--skip-kedro", action="store_true")
    parser.add_argument("--skip-headwater", action="store_true")
    args = parser.parse_args()

    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    logging.disable(logging.WARNING)  # Kedro logs every node at INFO

    graphs = [
        (f"chain-{args.chain}", chain(args.chain)),
        (f"fanout-{args.fanout}", fan_out(args.fanout)),
    ]
    wide = [(f"fanout-{args.wide}", fan_out(args.wide))] if args.wide else []
    rows = []
    if not args.skip_kedro:
        for runner in KEDRO_RUNNERS:
            run_kedro(chain(2), runner, args.parallel)  # warm-up: imports, pools
        rows += kedro_rows(graphs, args.parallel, args.repeat)
    if not args.skip_headwater:
        modes = [False, True] if args.cold else [False]
        with tempfile.TemporaryDirectory(prefix="headwater-bench-") as tmp:
            for cold in modes:
                rows += headwater_rows(graphs + wide, args.parallel, args.repeat, Path(tmp), cold)
    order = {label: i for i, (label, _) in enumerate(graphs + wide)}
    rows.sort(key=lambda row: order.get(row[0], -1))
    print_table(rows, args.repeat)


if __name__ == "__main__":
    main()
