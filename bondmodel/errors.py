"""The exception hierarchy.

Every error the package raises on purpose derives from :class:`BondModelError`.
The CLI maps :class:`ScenarioError` (bad input) to exit code 2 and prints only
the message, never a traceback.
"""

from __future__ import annotations


class BondModelError(Exception):
    """Base class of every error raised on purpose by bondmodel."""

    exit_code = 2


class ScenarioError(BondModelError):
    """A scenario, file or command-line input is unusable.

    The message names the field path, the bad value and what is allowed.
    """

    exit_code = 2


class ModelError(BondModelError):
    """The model cannot be computed for an otherwise valid scenario."""

    exit_code = 2


class WorkbookError(BondModelError):
    """A workbook cannot be written or read."""

    exit_code = 2


class ResourceError(BondModelError):
    """The machine refused what a run needs: memory, disk space, threads or processes.

    The message names what ran out (and the file, for an output).
    """

    exit_code = 2
