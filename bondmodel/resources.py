"""What the machine lets a run use, and what to say when something runs out.

The command maps every way the machine can refuse a run (memory, disk space,
threads, processes, open files) to one line naming what ran out, exit code 2
(docs/guarantees.md, "The machine's limits"); :func:`resource_message` is that
mapping. :func:`memory_limit` is the most memory a process may hold here, used to
refuse a run too large for the machine before it starts.

Only the standard library is imported: the command uses this module before it
imports numpy.
"""

from __future__ import annotations

import errno
import os
import resource
from dataclasses import dataclass
from pathlib import Path

#: cgroup (v2, then v1) files holding a container's memory limit.
_CGROUP_LIMITS = (
    Path("/sys/fs/cgroup/memory.max"),
    Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
)


@dataclass(frozen=True)
class MemoryLimit:
    """The most memory a process may hold, in bytes, and where the limit comes from."""

    bytes: int
    source: str

    def describe(self) -> str:
        return f"{self.bytes / 2**30:.1f} GiB: {self.source}"


def memory_limit() -> MemoryLimit:
    """The smallest of the machine's memory (physical and swap), the container's memory
    limit (cgroup) and the process's address-space and data limits (``ulimit -v``, ``-d``)."""
    limits: list[MemoryLimit] = []
    machine = _machine_memory()
    if machine is not None:
        limits.append(machine)
    for path in _CGROUP_LIMITS:
        try:
            text = path.read_text(encoding="ascii").strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2**60:
            limits.append(MemoryLimit(int(text), "the container's memory limit"))
        break
    for which, name in ((resource.RLIMIT_AS, "ulimit -v"), (resource.RLIMIT_DATA, "ulimit -d")):
        soft, _ = resource.getrlimit(which)
        if soft != resource.RLIM_INFINITY and soft > 0:
            limits.append(MemoryLimit(int(soft), f"the process limit, {name}"))
    if not limits:
        return MemoryLimit(2**63, "no known limit")
    return min(limits, key=lambda limit: limit.bytes)


def _machine_memory() -> MemoryLimit | None:
    """Physical memory plus swap (``/proc/meminfo``), or physical memory (``sysconf``)."""
    try:
        fields = dict(
            line.split(":", 1)
            for line in Path("/proc/meminfo").read_text().splitlines()
            if ":" in line
        )
        total = sum(int(fields[k].split()[0]) * 1024 for k in ("MemTotal", "SwapTotal"))
        return MemoryLimit(total, "this machine's memory and swap")
    except (OSError, KeyError, ValueError, IndexError):
        pass
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return None
    return MemoryLimit(pages * size, "this machine's memory") if pages > 0 < size else None


#: errno -> what ran out or what refused, in words.
_OS_ERRORS = {
    errno.ENOSPC: "no space left on the disk",
    errno.EDQUOT: "the disk quota is used up",
    errno.EFBIG: "the file size limit (ulimit -f) was reached",
    errno.ENOMEM: "out of memory",
    errno.EAGAIN: "the system refused a new process or thread (ulimit -u, or memory)",
    errno.EMFILE: "too many open files (ulimit -n)",
    errno.ENFILE: "too many open files on the system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "the file system is read-only",
    errno.EPIPE: "the reader closed the pipe",
}


def os_error_words(exc: OSError) -> str:
    """An OSError's cause in words (``no space left on the disk``)."""
    if exc.errno in _OS_ERRORS:
        return _OS_ERRORS[exc.errno]
    return exc.strerror or str(exc) or type(exc).__name__


def os_error_in(exc: BaseException) -> OSError | None:
    """The OSError behind ``exc``: itself, the one it wraps as its first argument
    (XlsxWriter's FileCreateError) or the one it was raised from; None if there is none.

    An exception merely raised while handling an OSError (its ``__context__``) is not
    caused by it, and keeps its own meaning.
    """
    if isinstance(exc, OSError):
        return exc
    first = exc.args[0] if exc.args else None
    for candidate in (first, exc.__cause__):
        if isinstance(candidate, OSError):
            return candidate
    return None


def resource_message(exc: BaseException) -> str | None:
    """One line naming what the machine refused, for an exception that is the machine
    running out of something; None for any other exception (a bug keeps its traceback)."""
    if isinstance(exc, MemoryError):
        detail = str(exc).strip()
        return (
            "out of memory"
            + (f" ({detail})" if detail else "")
            + f"; this process may use at most {memory_limit().describe()}: "
            "use fewer --paths or --workers, or free memory"
        )
    if isinstance(exc, RuntimeError):
        text = str(exc)
        if "can't start new thread" in text or "can't create new thread" in text:
            return (
                "the system refused to start a thread (out of memory, or the process limit "
                "ulimit -u); use fewer --workers, or free memory"
            )
        if type(exc).__name__ in ("BrokenProcessPool", "BrokenExecutor"):
            return (
                "a worker process stopped unexpectedly (the system may have killed it for lack "
                "of memory); no partial results are returned: use fewer --workers or --paths"
            )
        return None
    if isinstance(exc, ImportError):
        # a compiled module the system could not map into memory (dlopen: ENOMEM)
        text = str(exc)
        if "failed to map segment" in text or "Cannot allocate memory" in text:
            return (
                f"out of memory while loading {exc.name or 'a library'}; this process may use "
                f"at most {memory_limit().describe()}: free memory or raise the limit"
            )
        return None
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        return f"{os_error_words(exc)}{where}"
    return None


#: glibc's mallopt parameters (malloc.h), the values :func:`keep_freed_memory` sets and
#: glibc's defaults, which :func:`give_back_freed_memory` restores.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: Blocks below this come from the heap and are reused once freed (glibc's largest allowed
#: fixed threshold on 64 bits); larger ones (the whole run's per-path table) are still mapped.
MMAP_THRESHOLD = 32 * 2**20
#: Free memory at the top of the heap is given back to the system only above this.
TRIM_THRESHOLD = 256 * 2**20
_DEFAULT_THRESHOLD = 128 * 2**10


def _mallopt(*settings: tuple[int, int]) -> bool:
    """glibc's ``mallopt`` for each (parameter, value); False where there is none."""
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return all([bool(mallopt(parameter, value)) for parameter, value in settings])


def keep_freed_memory() -> bool:
    """Ask the C allocator to reuse the memory of freed arrays rather than give it back to
    the system at once; True if it could (glibc), False elsewhere (nothing changes).

    The engine makes and frees arrays of a few megabytes for every block of paths. With
    glibc's defaults most of them are mapped afresh and every page faulted in again: a
    million-path run of the default template took 430,000 page faults, against 95,000 with
    these settings (benchmarks/README.md). Set for good in each local worker, and while the
    blocks run in the calling process (serial runs; :func:`give_back_freed_memory` after).
    """
    return _mallopt((_M_MMAP_THRESHOLD, MMAP_THRESHOLD), (_M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def give_back_freed_memory() -> None:
    """Undo :func:`keep_freed_memory`: glibc's default thresholds, and the freed memory
    given back to the system now (``malloc_trim``), so the rest of the run starts lean."""
    if _mallopt((_M_MMAP_THRESHOLD, _DEFAULT_THRESHOLD), (_M_TRIM_THRESHOLD, _DEFAULT_THRESHOLD)):
        import ctypes

        ctypes.CDLL(None).malloc_trim(0)
