"""Atomic file output: write to a temporary file in the same folder, then rename.

A reader, or a run killed half-way, never sees a half-written file: the old
file stays intact until :func:`os.replace` swaps the new one in atomically.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Final

from bondmodel import interrupts
from bondmodel.errors import BondModelError, ResourceError, ScenarioError
from bondmodel.resources import os_error_in, os_error_words

#: XlsxWriter's options for every workbook bondmodel writes: no formula or URL guessing,
#: NaN never written as an error, and the parts assembled in memory (``in_memory``) rather
#: than in temporary files, which a failed or stopped write would leave behind in the
#: system's temporary folder (the output itself is still written atomically, below).
XLSX_OPTIONS: Final = {
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "nan_inf_to_errors": False,
    "in_memory": True,
}


def check_output_path(path: Path, flag: str, suffix: str) -> None:
    """Refuse, before anything runs, an output path that does not end in ``suffix``
    (``.pdf``, ``.xlsx``), whose folder is missing, or that is a folder; ``flag`` names the
    option that gave it."""
    if path.suffix.lower() != suffix:
        raise ScenarioError(f"{flag}: {str(path)!r} must end in {suffix}")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ScenarioError(f"{flag}: {str(path)!r}: the folder {folder} does not exist")
    if path.is_dir():
        raise ScenarioError(f"{flag}: {str(path)!r} is a folder; give a file name to write")


def same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file (the same path resolved, or a link to it), so an
    output never overwrites an input; False when either cannot be looked at."""
    try:
        return a.resolve() == b.resolve() or (b.exists() and a.samefile(b))
    except OSError:
        return False


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` to produce the file at a temporary path, then move it to ``path``.

    If ``write`` raises, the temporary file is removed and ``path`` is untouched.
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if folder.exists() and not folder.is_dir():
        raise ScenarioError(f"{target}: {folder} is a file, not a folder; choose another path")
    if not folder.is_dir():
        raise ScenarioError(f"{target}: output folder {folder} does not exist")
    if target.is_dir():
        raise ScenarioError(f"{target}: is a folder; give a file name to write")
    existed = target.exists()
    tmp: Path | None = None
    try:
        # a stop (Ctrl-C, SIGTERM) waits until the temporary file is known, so the clean-up
        # below always knows what to remove
        with interrupts.deferred():
            fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
            tmp = Path(tmp_name)
            os.close(fd)
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        if target.exists():
            # keep the existing file's permissions
            os.chmod(tmp, target.stat().st_mode & 0o7777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink()
        cause = None if isinstance(exc, BondModelError) else os_error_in(exc)
        if cause is not None and isinstance(exc, Exception):
            # the disk filled up, a quota or a file-size limit was reached, ...: whichever
            # library was writing (XlsxWriter wraps the OSError in its own exception)
            _release_writers(exc)
            raise _cannot_write(target, cause, existed) from None
        raise
    return target


def _release_writers(exc: BaseException) -> None:
    """Let go, now and quietly, of the file objects a failed writer left open.

    XlsxWriter leaves its ZipFile open when a write fails; collected later, it would try to
    flush to the full disk again and print an "Exception ignored" traceback. Its frames
    are finished, so their variables are dropped here and the file closed at once, with
    the error of that last flush (already reported as this failure) silenced.
    """
    hook = sys.unraisablehook
    sys.unraisablehook = lambda _: None
    try:
        seen: set[int] = set()
        todo: list[object] = [exc]
        while todo:  # the exception, the OSError it wraps, and what they were raised from
            current = todo.pop()
            if not isinstance(current, BaseException) or id(current) in seen:
                continue
            seen.add(id(current))
            traceback.clear_frames(current.__traceback__)
            todo += [current.__cause__, current.__context__, *current.args[:1]]
        gc.collect()
    finally:
        sys.unraisablehook = hook


def _cannot_write(target: Path, cause: OSError, existed: bool) -> ResourceError:
    kept = "the existing file is unchanged" if existed else "nothing was written"
    return ResourceError(f"{target}: cannot write it: {os_error_words(cause)}; {kept}")


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""

    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")

    return atomic_write(path, write)
