"""File operations root does in directories an unprivileged user can write, without
following a link that user planted there.

PostgreSQL's data directory belongs to the postgres user, a service's secrets folder to
the service's user. Were root to `chown` or write `<dir>/run` by path, code running as
that user could first replace `run` with a symbolic link to /etc and be handed /etc
(chown follows links; so do open and chmod). So: open the directory once, then work
relative to that descriptor with O_NOFOLLOW and act on what was opened (fchown, fchmod),
never on a path looked up again. A link found in place of the name is refused.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from shopnet.errors import PreflightError

DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class PlantedLink(PreflightError):
    """A name we own was something else than what we made there (a link, most likely)."""


@contextmanager
def opened_directory(path: Path) -> Iterator[int]:
    """A descriptor of the directory `path` (itself not a link)."""
    try:
        fd = os.open(path, DIRECTORY)
    except OSError as exc:
        raise _refusal(path, exc) from None
    try:
        yield fd
    finally:
        os.close(fd)


def owned_directory(
    parent: Path, name: str, *, mode: int, owner: tuple[int, int] | None = None
) -> Path:
    """`parent/name` as a directory with `mode` (and `owner` uid, gid), made if missing;
    refused if `name` is a link or not a directory."""
    with opened_directory(parent) as parent_fd:
        with suppress(FileExistsError):
            os.mkdir(name, mode, dir_fd=parent_fd)
        try:
            fd = os.open(name, DIRECTORY, dir_fd=parent_fd)
        except OSError as exc:
            raise _refusal(parent / name, exc) from None
        try:
            if owner is not None:
                os.fchown(fd, *owner)
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
    return parent / name


def write_private(
    parent: Path, name: str, text: str, *, owner: tuple[int, int] | None = None
) -> Path:
    """`parent/name` holding `text`, 0600 (and `owner`'s) from its first byte, written
    under a temporary name and renamed into place (a rename replaces a link, never its
    target)."""
    tmp = f".{name}.tmp"
    with opened_directory(parent) as parent_fd:
        with suppress(FileNotFoundError):  # a leftover, or a planted link: unlink never follows
            os.unlink(tmp, dir_fd=parent_fd)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(tmp, flags, 0o600, dir_fd=parent_fd)
        with os.fdopen(fd, "w") as out:
            if owner is not None:
                os.fchown(out.fileno(), *owner)
            out.write(text)
        os.replace(tmp, name, src_dir_fd=parent_fd, dst_dir_fd=parent_fd)
    return parent / name


def append_private(path: Path) -> BinaryIO:
    """`path` opened for appending (a log): 0600 from its first byte, an older file's mode
    put right, never through a link."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        raise _refusal(path, exc) from None
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "ab")


def write_private_file(path: Path, text: str) -> Path:
    """`write_private` addressed by the file's path."""
    return write_private(path.parent, path.name, text)


def read_text(path: Path) -> str:
    """The text of the regular file `path`, refused if it is a link."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise _refusal(path, exc) from None
    with os.fdopen(fd) as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            raise PlantedLink(f"{path} is not a regular file; refusing to read it")
        return file.read()


def _refusal(path: Path, exc: OSError) -> PreflightError:
    if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
        return PlantedLink(
            f"{path} is a symbolic link or not a directory; refusing to follow it as root "
            "(something running as the datastore's or service's user put it there: remove "
            "it after a look)"
        )
    return PreflightError(f"{path}: {exc.strerror}")
