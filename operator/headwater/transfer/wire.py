"""What a transfer Pod prints and the client reads back through `pods/log`: the only
channel from a Pod to the user that needs no exec, port-forward or proxy.

Lines start with a marker, so that anything else the container prints (a warning on
stderr, which the log interleaves) is passed over. A download is split into segments,
one per index of an Indexed Job, each small enough (SEGMENT bytes, 4/3 of that as
base64) that its log stays below the kubelet's 10 MiB rotation, which would otherwise
drop the beginning."""

import base64
import binascii
import hashlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TextIO

from pydantic import BaseModel

from headwater.transfer.errors import TransferFailed
from headwater.transfer.model import Digest, FoundArtifact, Inspection

SEGMENT = 6 << 20
"""Raw bytes per segment: 8 MiB of base64, leaving room for the runtime's per-line
prefixes (about 45 bytes per LINE characters) under 10 MiB."""
LINE = 16000
"""base64 characters per log line: under the runtimes' 16 KiB line split."""

ARTIFACT_MARK = "headwater-artifact"
FILE_MARK = "headwater-file"
SEGMENT_MARK = "headwater-segment"
END_MARK = "headwater-end"


@dataclass(frozen=True)
class Segment:
    file: int
    """Which file of the plan."""
    offset: int
    length: int


def segments(sizes: list[int], segment_size: int = SEGMENT) -> list[Segment]:
    """The plan's files cut into segments, in order; an empty file is one empty segment."""
    found = []
    for index, size in enumerate(sizes):
        offsets = range(0, size, segment_size) if size else range(1)
        found.extend(Segment(index, offset, min(segment_size, size - offset)) for offset in offsets)
    return found


class SegmentHeader(BaseModel):
    index: int
    path: str
    offset: int
    length: int
    sha256: str


def print_inspection(inspection: Inspection, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    for artifact in inspection.artifacts:
        out.write(f"{ARTIFACT_MARK} {artifact.model_dump_json()}\n")
    for path, digest in inspection.files.items():
        found = digest.model_dump(mode="json") if digest else None
        out.write(f"{FILE_MARK} {json.dumps({'path': path, 'digest': found})}\n")


def read_inspection(log: str) -> Inspection:
    artifacts: list[FoundArtifact] = []
    files: dict[str, Digest | None] = {}
    for line in log.splitlines():
        mark, _, rest = line.partition(" ")
        if mark == ARTIFACT_MARK:
            artifacts.append(FoundArtifact.model_validate_json(rest))
        elif mark == FILE_MARK:
            entry = json.loads(rest)
            digest = entry["digest"]
            files[entry["path"]] = Digest.model_validate(digest) if digest else None
    return Inspection(artifacts=artifacts, files=files)


def print_segment(header: SegmentHeader, data: bytes, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    out.write(f"{SEGMENT_MARK} {header.model_dump_json()}\n")
    encoded = base64.b64encode(data).decode()
    for start in range(0, len(encoded), LINE):
        out.write(encoded[start : start + LINE] + "\n")
    out.write(f"{END_MARK}\n")


def _segment_lines(log: str) -> Iterator[tuple[str, list[str]]]:
    lines = iter(log.splitlines())
    for line in lines:
        mark, _, rest = line.partition(" ")
        if mark != SEGMENT_MARK:
            continue
        body = []
        for inner in lines:
            if inner == END_MARK:
                yield rest, body
                break
            body.append(inner)


def read_segment(log: str, expected: Segment, path: str) -> bytes:
    """The bytes of one segment from its Pod's log, checked against its header."""
    for header_text, body in _segment_lines(log):
        header = SegmentHeader.model_validate_json(header_text)
        try:
            data = base64.b64decode("".join(b for b in body if " " not in b), validate=True)
        except binascii.Error as error:
            raise TransferFailed(f"{path}: a segment's log is garbled ({error})") from None
        if (header.path, header.offset, header.length) != (path, expected.offset, expected.length):
            break
        if len(data) != header.length or hashlib.sha256(data).hexdigest() != header.sha256:
            raise TransferFailed(
                f"{path}: the segment at offset {header.offset} does not match its sha256;"
                " the log was cut (a kubelet with a containerLogMaxSize under 10 MiB?)"
            )
        return data
    raise TransferFailed(f"{path}: no complete segment at offset {expected.offset} in the log")
