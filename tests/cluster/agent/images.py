"""Images are never pulled. A container runs its `command`/`args` on this machine.

A container without `command` relies on its image's entrypoint; this table gives the
local equivalent, matched by the first key contained in the image's repository name
(registry, tag and digest are ignored). Keep it minimal and documented.

  image name contains   entrypoint                 default args (image CMD)
  "headwater"           headwater  (console script of the installed package)
  "python"              python3
  "busybox", "alpine",  sh
  "debian", "ubuntu"
"""

from __future__ import annotations

ENTRYPOINTS: tuple[tuple[str, list[str], list[str]], ...] = (
    ("headwater", ["headwater"], []),
    ("python", [], ["python3"]),
    ("busybox", [], ["sh"]),
    ("alpine", [], ["sh"]),
    ("debian", [], ["sh"]),
    ("ubuntu", [], ["sh"]),
)


def repository(image: str) -> str:
    """`registry/org/name:tag@digest` -> `name`."""
    name = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return name.split(":", 1)[0]


def image_defaults(image: str) -> tuple[list[str], list[str]] | None:
    """(entrypoint, cmd) for `image`, or None when the table does not know it."""
    name = repository(image)
    for key, entrypoint, cmd in ENTRYPOINTS:
        if key in name:
            return list(entrypoint), list(cmd)
    return None


def container_argv(container: dict) -> list[str] | None:
    """The argv Kubernetes would run for `container`, or None if unknown."""
    command = container.get("command")
    args = container.get("args")
    if command:
        return list(command) + list(args or [])
    defaults = image_defaults(container.get("image", ""))
    if defaults is None:
        return None
    entrypoint, cmd = defaults
    argv = entrypoint + (list(args) if args is not None else cmd)
    return argv or None
