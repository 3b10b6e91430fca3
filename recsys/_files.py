"""Reading one untrusted file safely: once, regular files only, never blocking, never more than a cap.

Why: a path can name a FIFO (opening it for reading blocks until a writer comes), a device (/dev/zero never
ends), a folder, or a file swapped between a check and a read. Opening with O_NONBLOCK and checking the
*opened* descriptor with fstat closes all of these at once; the bytes returned are the only bytes read.
Used by the artifact store (recsys.models.persistence) and the dataset loader.
"""

from __future__ import annotations

import errno
import os
import stat


class NotARegularFile(ValueError):
    """The path is a folder, FIFO, device, socket or link (when links are refused), or over the size cap."""


def kind(mode: int) -> str:
    """'a folder', 'a named pipe (FIFO)', 'a device', ... for a stat mode that is not a regular file."""
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISLNK, "a symbolic link"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def read_capped(path, limit: int, *, follow_links: bool = False) -> bytes:
    """The bytes of regular file `path`, read once through one descriptor: a FIFO or device is refused (not
    waited on or read forever), a link is refused unless `follow_links`, and at most `limit` bytes are read.
    Raises NotARegularFile (a ValueError) for those, OSError for the rest (missing, permissions)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    if not follow_links:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotARegularFile(f"{path} is a symbolic link, not a regular file") from None
        if exc.errno == errno.EISDIR:
            raise NotARegularFile(f"{path} is a folder, not a file") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotARegularFile(f"{path} is {kind(info.st_mode)}, not a regular file")
        if info.st_size > limit:
            raise NotARegularFile(f"{path} is {info.st_size:,} bytes, over the {limit:,}-byte limit")
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise NotARegularFile(f"{path} grew past the {limit:,}-byte limit while being read")
        return b"".join(chunks)
    finally:
        os.close(fd)
