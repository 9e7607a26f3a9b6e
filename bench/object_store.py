"""How fast the local control plane's object store (SeaweedFS) moves a large object
through s3fs, and what the weed process holds in memory. Prints figures.

- put and get MB/s of one object (50 MB of random bytes by default) with
  `pipe_file`/`cat_file`, the calls the artifact store makes; best and median of N;
- resident memory of the weed process when idle (right after `up`) and after the run.

The client is pointed at the store by AWS_* variables only, as node Jobs are.

Usage: python bench/object_store.py [--dir CLUSTER_DIR] [--size-mb 50] [--repeat 5]
Without --dir it starts and stops its own cluster (tests/cluster/up and down).
"""

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "tests" / "cluster"
T = TypeVar("T")


@contextlib.contextmanager
def cluster(directory: Path | None) -> Iterator[Path]:
    if directory is not None:
        yield directory
        return
    with tempfile.TemporaryDirectory(prefix="hw-bench-s3-") as tmp:
        subprocess.run([str(CLUSTER / "up"), tmp], check=True, stdout=subprocess.DEVNULL)
        try:
            yield Path(tmp)
        finally:
            subprocess.run([str(CLUSTER / "down"), tmp], check=False)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def point_env_at(settings: dict[str, str]) -> None:
    os.environ.update(
        AWS_ACCESS_KEY_ID=settings["accessKey"],
        AWS_SECRET_ACCESS_KEY=settings["secretKey"],
        AWS_ENDPOINT_URL=settings["endpoint"],
        AWS_DEFAULT_REGION=settings["region"],
    )


def timed(action: Callable[[], T]) -> tuple[float, T]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, help="a running cluster's directory")
    parser.add_argument("--size-mb", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    with cluster(args.dir) as directory:
        settings = json.loads((directory / "s3.json").read_text())
        pid = int((directory / "seaweedfs.pid").read_text())
        idle = rss_mib(pid)
        point_env_at(settings)
        import fsspec  # after the environment is set, as in a fresh Job

        fs = fsspec.filesystem("s3")
        size = args.size_mb * 10**6
        data = os.urandom(size)
        key = f"{settings['bucket']}/bench/{uuid.uuid4().hex}.bin"
        puts, gets = [], []
        for _ in range(args.repeat):
            puts.append(timed(lambda: fs.pipe_file(key, data))[0])
            seconds, read = timed(lambda: fs.cat_file(key))
            gets.append(seconds)
            if read != data:
                raise SystemExit("the object came back different")
            fs.rm_file(key)
        after = rss_mib(pid)

    mb = size / 10**6
    print(f"object: {mb:.0f} MB random bytes, {args.repeat} runs (s3fs pipe_file / cat_file)")
    for name, times in (("put", puts), ("get", gets)):
        best, median = mb / min(times), mb / statistics.median(times)
        print(f"{name}: best {best:6.1f} MB/s   median {median:6.1f} MB/s")
    print(f"weed RSS: idle {idle:.0f} MiB, after the runs {after:.0f} MiB")


if __name__ == "__main__":
    main()
