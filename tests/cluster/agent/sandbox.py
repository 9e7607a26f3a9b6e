"""Run inside `unshare --mount --propagation private`: bind-mount a Pod's volumes at their
mountPaths, change to the working directory, then exec the container's command.

Standalone (standard library only), invoked as `python -I sandbox.py SPEC.json`, where
SPEC holds {"mounts": [{"source", "target", "readOnly"}], "workingDir", "argv", "env"}.
Mount targets that do not exist are created on the host file system (empty directories
or files), since the mount namespace shares it.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys

MS_RDONLY = 1
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384

libc = ctypes.CDLL(None, use_errno=True)


def _mount(source: str | None, target: str, flags: int) -> None:
    src = None if source is None else source.encode()
    if libc.mount(src, target.encode(), None, flags, None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} on {target}: {os.strerror(err)}")


def bind(source: int, is_dir: bool, target: str, read_only: bool) -> None:
    """Bind the opened `source` at `target`, creating the target like a container
    runtime would."""
    if is_dir:
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.exists(target):
            open(target, "a").close()
    _mount(f"/proc/self/fd/{source}", target, MS_BIND | MS_REC)
    if read_only:
        _mount(None, target, MS_REMOUNT | MS_BIND | MS_RDONLY)


def _under(path: str, folder: str) -> bool:
    return os.path.commonpath([path, folder]) == folder.rstrip("/") or folder == "/"


def main() -> None:
    with open(sys.argv[1]) as handle:
        spec = json.load(handle)
    try:
        mounts = sorted(spec["mounts"], key=lambda m: m["target"].rstrip("/").count("/"))
        # Open every source first: a mount over /tmp would hide sources kept under /tmp.
        sources = [os.open(m["source"], os.O_PATH) for m in mounts]
        hidden = [
            (path, os.open(path, os.O_PATH))
            for path in spec.get("keep", [])
            if any(_under(path, m["target"]) for m in mounts)
        ]
        for mount, source in zip(mounts, sources, strict=True):
            is_dir = os.path.isdir(f"/proc/self/fd/{source}")
            bind(source, is_dir, mount["target"], mount.get("readOnly", False))
        for path, source in hidden:
            bind(source, True, path, True)
        for source in sources + [fd for _, fd in hidden]:
            os.close(source)
        if spec.get("workingDir"):
            os.makedirs(spec["workingDir"], exist_ok=True)
            os.chdir(spec["workingDir"])
        argv = spec["argv"]
        os.execvpe(argv[0], argv, spec["env"])
    except OSError as err:
        print(f"headwater node agent: cannot start container: {err}", file=sys.stderr)
        sys.exit(128)


if __name__ == "__main__":
    main()
