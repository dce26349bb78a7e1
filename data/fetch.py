"""Download built-in data sets into the user cache, verified and atomic.

Each file goes to ``cache_dir()/<relative path>``, the layout every data root has,
so :func:`data.registry.find_file` finds it afterwards. A file is written to a
temp file in its target directory, checked against its sha256, fsync'ed and then
``os.replace``'d into place: a reader never sees a partial or unverified file, and
on any error (or Ctrl-C) the temp file is removed.

A mirror (``--mirror URL`` or ``$ORCH_DATA_MIRROR``) is a base URL holding the
same relative layout as a data root (``file://`` works too); with one, a file's
URL is ``mirror + '/' + relative path`` and the public URLs are not used.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from data.errors import DataError
from data.registry import DATASETS, DataFile, DatasetInfo, cache_dir, file_sha256

MIRROR_ENV = "ORCH_DATA_MIRROR"
CHUNK = 1 << 16
TIMEOUT_S = 60.0


class FetchError(DataError):
    """A download that could not be completed; its message is one line."""


@dataclass
class FetchResult:
    name: str
    root: Path
    downloaded: list[str]
    present: list[str]


def resolve_names(names: list[str]) -> list[str]:
    """The named built-in sets (``all`` = every downloadable one), unknown names refused."""
    if not names:
        raise FetchError(f"datasets fetch: name at least one dataset; known: {', '.join(known_names())}")
    out: list[str] = []
    for name in names:
        chosen = [n for n, info in DATASETS.items() if info.files] if name == "all" else [name]
        for item in chosen:
            if item not in DATASETS:
                raise FetchError(f"datasets fetch: unknown dataset {item!r}; known: {', '.join(known_names())}")
            if item not in out:
                out.append(item)
    return out


def known_names() -> list[str]:
    return [*sorted(DATASETS), "all"]


def mirror_url(mirror: str | None = None) -> str:
    """The mirror base URL: the argument, else ``$ORCH_DATA_MIRROR``, else '' (none)."""
    return (mirror or os.environ.get(MIRROR_ENV) or "").rstrip("/")


def file_urls(entry: DataFile, mirror: str = "") -> tuple[str, ...]:
    if mirror:
        return (f"{mirror}/{urllib.parse.quote(entry.path)}",)
    return entry.urls


def fetch_dataset(name: str, mirror: str | None = None, root: Path | None = None,
                  log: TextIO | None = None) -> FetchResult:
    """Download every file of one built-in set that is not yet present and correct."""
    info = DATASETS[name]
    log = log or sys.stderr
    root = Path(root) if root is not None else cache_dir()
    result = FetchResult(name, root, [], [])
    if info.synthetic:
        return result
    base = mirror_url(mirror)
    for entry in info.files.values():
        target = root / entry.path
        if target.is_file() and file_sha256(target) == entry.sha256:
            result.present.append(entry.path)
            continue
        fetch_file(entry, target, base, log)
        result.downloaded.append(entry.path)
    return result


def fetch_file(entry: DataFile, target: Path, mirror: str = "", log: TextIO | None = None) -> None:
    """Download one file to ``target`` from its first URL that yields the right bytes."""
    log = log or sys.stderr
    urls = file_urls(entry, mirror)
    if not urls:
        raise FetchError(f"{entry.path}: no public URL serves this file; {entry.note or 'none is known'}")
    target.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    for url in urls:
        try:
            _download(url, entry, target, log)
            return
        except FetchError as exc:
            failures.append(str(exc))
            if url != urls[-1]:
                print(f"{exc}; trying the next source", file=log, flush=True)
    raise FetchError(failures[-1] if len(failures) == 1 else "; ".join(failures))


def _download(url: str, entry: DataFile, target: Path, log: TextIO) -> None:
    handle, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(handle, "wb") as out:
            digest, got = _stream(url, entry, out, log)
            out.flush()
            os.fsync(out.fileno())
        if digest != entry.sha256:
            raise FetchError(f"{entry.path}: sha256 mismatch from {url}: expected {entry.sha256}, got {digest} "
                             f"({got} bytes, removed)")
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _stream(url: str, entry: DataFile, out, log: TextIO) -> tuple[str, int]:
    """Copy ``url`` into ``out``; returns (sha256, bytes). A short transfer is an error."""
    digest = hashlib.sha256()
    got = 0
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            length = response.headers.get("Content-Length")
            announced = int(length) if length and length.isdigit() else None
            progress = _Progress(entry.path, announced or entry.size, log)
            while True:
                chunk = response.read(CHUNK)
                if not chunk:
                    break
                out.write(chunk)
                digest.update(chunk)
                got += len(chunk)
                progress.update(got)
            progress.done(got)
    except urllib.error.HTTPError as exc:
        raise FetchError(f"{entry.path}: HTTP {exc.code} {exc.reason} from {url}") from None
    except urllib.error.URLError as exc:
        raise FetchError(f"{entry.path}: cannot download {url}: {exc.reason}") from None
    except (OSError, ValueError, http.client.HTTPException) as exc:  # reset, timeout, IncompleteRead, bad URL
        raise FetchError(f"{entry.path}: download from {url} failed after {got} bytes: "
                         f"{type(exc).__name__}: {exc}".rstrip(": ")) from None
    if announced is not None and got != announced:
        raise FetchError(f"{entry.path}: transfer from {url} ended after {got} of {announced} bytes")
    return digest.hexdigest(), got


def _fsync_dir(path: Path) -> None:
    """Make the rename durable; not every platform can open a directory."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class _Progress:
    """Bytes / total on stderr: one updating line on a terminal, else a line every few seconds."""

    def __init__(self, label: str, total: int, log: TextIO):
        self.label, self.total, self.log = label, total, log
        self.tty = hasattr(log, "isatty") and log.isatty()
        self.last = time.monotonic()

    def update(self, got: int) -> None:
        now = time.monotonic()
        if now - self.last < (0.2 if self.tty else 5.0):
            return
        self.last = now
        self._write(got, final=False)

    def done(self, got: int) -> None:
        self._write(got, final=True)

    def _write(self, got: int, final: bool) -> None:
        text = f"  {self.label}: {human_size(got)} / {human_size(self.total)}"
        if self.tty:
            print(f"\r{text}\033[K", end="\n" if final else "", file=self.log, flush=True)
        else:
            print(text, file=self.log, flush=True)


def human_size(size: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"  # pragma: no cover


def attribution(info: DatasetInfo) -> list[str]:
    """The licence and citation lines printed after a fetch."""
    return [f"  licence: {info.licence or 'not stated'}", f"  cite: {info.cite or 'not stated'}"]
