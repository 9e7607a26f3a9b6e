"""The inside of a transfer Job (`python -m headwater.transfer`), in the runner image:
writes a pushed batch into the store, inspects it, or prints a segment of a file.
The store's root is a path (the claim's mount) or an object-store URL whose
credentials the Pod's environment holds, as in a node Job."""

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

from headwater.artifacts.layout import join
from headwater.artifacts.urls import open_filesystem
from headwater.transfer.errors import TransferError, TransferFailed
from headwater.transfer.model import BLOCK, Digest
from headwater.transfer.storeops import (
    commit,
    dataset_dir,
    inspect,
    part_file,
    sweep_stale,
    temp_file,
)
from headwater.transfer.wire import SegmentHeader, print_inspection, print_segment, segments


def _chunks(directory: Path) -> list[Path]:
    """The batch's chunk files in order (a projected volume also holds `..data` links)."""
    return sorted(p for p in directory.iterdir() if p.name.isdigit())


def receive(arguments: argparse.Namespace) -> None:
    filesystem, root = open_filesystem(arguments.root)
    directory = dataset_dir(root, arguments.dataset)
    filesystem.makedirs(directory, exist_ok=True)
    if arguments.batch == 0:
        sweep_stale(filesystem, directory)
    chunks = _chunks(Path(arguments.chunks))
    if arguments.finish is None:
        # Written whole again if the Pod is retried: a batch is idempotent.
        with filesystem.open(
            part_file(directory, arguments.transfer, arguments.batch), "wb"
        ) as out:
            for chunk in chunks:
                out.write(chunk.read_bytes())
        return
    parts = [part_file(directory, arguments.transfer, k) for k in range(arguments.batch)]
    temp = temp_file(directory, arguments.transfer, arguments.finish)
    hasher, size = hashlib.sha256(), 0
    with filesystem.open(temp, "wb") as out:
        for part in parts:
            with filesystem.open(part, "rb", block_size=BLOCK) as source:
                while block := source.read(BLOCK):
                    out.write(block)
                    hasher.update(block)
                    size += len(block)
        for chunk in chunks:
            block = chunk.read_bytes()
            out.write(block)
            hasher.update(block)
            size += len(block)
    expected = Digest(size=arguments.size, sha256=arguments.sha256)
    found = Digest(size=size, sha256=hasher.hexdigest())
    commit(filesystem, temp, join(directory, arguments.finish), expected, found)
    for part in parts:
        filesystem.rm_file(part)


def inspect_command(arguments: argparse.Namespace) -> None:
    filesystem, root = open_filesystem(arguments.root)
    print_inspection(inspect(filesystem, root, arguments.artifacts, arguments.file))


def send(arguments: argparse.Namespace) -> None:
    plan: list[list] = json.loads(arguments.plan)
    index = int(os.environ["JOB_COMPLETION_INDEX"])
    segment = segments([int(size) for _, size in plan])[index]
    path = str(plan[segment.file][0])
    filesystem, root = open_filesystem(arguments.root)
    with filesystem.open(join(root, path), "rb") as source:
        source.seek(segment.offset)
        data = source.read(segment.length)
    if len(data) != segment.length:
        raise TransferFailed(f"{path} is shorter than when it was inspected")
    header = SegmentHeader(
        index=index,
        path=path,
        offset=segment.offset,
        length=segment.length,
        sha256=hashlib.sha256(data).hexdigest(),
    )
    print_segment(header, data)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m headwater.transfer")
    verbs = top.add_subparsers(dest="verb", required=True)
    receiving = verbs.add_parser("receive", help="write a pushed batch into the store")
    receiving.add_argument("--root", required=True)
    receiving.add_argument("--dataset", required=True)
    receiving.add_argument("--transfer", required=True)
    receiving.add_argument("--batch", type=int, required=True)
    receiving.add_argument("--chunks", required=True)
    receiving.add_argument("--finish", help="the file's name: this is the last batch")
    receiving.add_argument("--size", type=int)
    receiving.add_argument("--sha256")
    receiving.set_defaults(run=receive)
    inspecting = verbs.add_parser("inspect", help="print artifacts and file digests")
    inspecting.add_argument("--root", required=True)
    inspecting.add_argument("--artifacts", action="append", default=[])
    inspecting.add_argument("--file", action="append", default=[])
    inspecting.set_defaults(run=inspect_command)
    sending = verbs.add_parser("send", help="print this index's segment of the plan")
    sending.add_argument("--root", required=True)
    sending.add_argument("--plan", required=True, help="JSON: [[path, size], ...]")
    sending.set_defaults(run=send)
    return top


def main(argv: list[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    try:
        arguments.run(arguments)
    except (TransferError, OSError) as error:
        print(f"headwater transfer: {error}", file=sys.stderr)
        return 1
    sys.stdout.flush()
    return 0
