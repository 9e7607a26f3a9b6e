"""Where things live in a namespace's artifact store, the same for the PVC, an object
store and the local executor's folder; every path here is relative to the store's root
(`/var/lib/headwater/store` in a Job, `s3://bucket/prefix/<namespace>`, `.headwater`).

    runs/<run>/<node>/<output>/data.<ext>     an output, with meta.json beside it
    runs/<run>/<node>/.headwater/attempt-<n>.log    what attempt n printed
    runs/<run>/<node>/.headwater/attempt-<n>.json   its full result (message, traceback)
    datasets/<name>/<file>                    a file `headwater dataset push` put there

Output names never start with `.` (the models forbid it), so `.headwater/` cannot clash
with an output. Pure: strings in, strings out.
"""

import posixpath

RUNS = "runs"
DATASETS = "datasets"
BOOKKEEPING = ".headwater"


def join(root: str, *parts: str) -> str:
    """`root`/`parts…`, for paths and URLs alike (posixpath, never os.path: the root may
    be s3://bucket/prefix)."""
    return posixpath.join(root, *parts)


def node_dir(root: str, run: str, node: str) -> str:
    """Where a node of a run keeps its outputs and its bookkeeping."""
    return join(root, RUNS, run, node)


def output_dir(root: str, run: str, node: str, output: str) -> str:
    """The artifact directory of one output (data.<ext> and meta.json)."""
    return join(node_dir(root, run, node), output)


def bookkeeping_dir(root: str, run: str, node: str) -> str:
    return join(node_dir(root, run, node), BOOKKEEPING)


def attempt_log(root: str, run: str, node: str, attempt: int) -> str:
    """What attempt `attempt` (from 1) of a node printed, stdout and stderr together."""
    return join(bookkeeping_dir(root, run, node), attempt_log_name(attempt))


def attempt_record(root: str, run: str, node: str, attempt: int) -> str:
    """The runner's full result of an attempt: the termination message is cut to fit
    4 KiB, this is not."""
    return join(bookkeeping_dir(root, run, node), attempt_record_name(attempt))


def attempt_log_name(attempt: int) -> str:
    """The log's name inside the bookkeeping dir, for the runner, which is given that."""
    return f"attempt-{attempt}.log"


def attempt_record_name(attempt: int) -> str:
    return f"attempt-{attempt}.json"


def attempt_number(name: str) -> int | None:
    """3 for `attempt-3.log` or `attempt-3.json`; None for anything else."""
    stem, _, suffix = posixpath.basename(name).rpartition(".")
    if suffix not in ("log", "json") or not stem.startswith("attempt-"):
        return None
    number = stem.removeprefix("attempt-")
    return int(number) if number.isdigit() and int(number) > 0 else None


def dataset_file(root: str, dataset: str, filename: str) -> str:
    """Where `headwater dataset push NAME FILE` puts FILE."""
    return join(root, DATASETS, dataset, posixpath.basename(filename))


def dataset_uri(dataset: str, filename: str) -> str:
    """The relative URI a pushed Dataset's spec names: resolved against the store root
    by both executors."""
    return join(DATASETS, dataset, posixpath.basename(filename))
