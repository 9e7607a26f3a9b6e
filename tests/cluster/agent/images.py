"""Images are never pulled. A container runs its `command`/`args` on this machine.

One kind of image is unpullable, so tests can see a failed pull: an image whose registry
host ends in `.invalid` (RFC 2606 reserves that top-level domain; no registry can have
it), for example `registry.invalid/team/app:1`. The host is the first path component
when it holds a `.` or `:` or is `localhost`, as in a Docker reference; `app.invalid`
alone is a repository on docker.io and pulls "fine". `pull_error` gives the error a
container runtime reports for a registry that does not resolve.

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


def with_default_tag(image: str) -> str:
    """The reference the kubelet pulls: `:latest` unless a tag or digest is given."""
    if "@" in image or ":" in image.rsplit("/", 1)[-1]:
        return image
    return f"{image}:latest"


def registry_host(image: str) -> str | None:
    """The registry host named by `image` (without port), or None for docker.io."""
    first, slash, _ = image.partition("/")
    if not slash or not ("." in first or ":" in first or first == "localhost"):
        return None
    return first.split(":", 1)[0]


def pull_error(image: str) -> str | None:
    """Why `image` cannot be pulled on this node, worded as containerd would, or None."""
    host = registry_host(image)
    if host is None or not (host == "invalid" or host.endswith(".invalid")):
        return None
    ref = with_default_tag(image)
    remainder = ref.split("/", 1)[1]
    if "@" in remainder:
        name, reference = remainder.split("@", 1)
    else:
        name, _, reference = remainder.rpartition(":")
    manifest = f"https://{ref.split('/', 1)[0]}/v2/{name}/manifests/{reference}"
    return (
        f'rpc error: code = Unknown desc = failed to pull and unpack image "{ref}": '
        f'failed to resolve reference "{ref}": failed to do request: Head "{manifest}": '
        f"dial tcp: lookup {host}: no such host"
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
