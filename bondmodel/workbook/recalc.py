"""Recalculate a workbook in LibreOffice (headless), forcing every formula to be recomputed.

By default LibreOffice keeps the cached values of a file that says Excel wrote
it (XlsxWriter's files do), so a plain conversion proves nothing. Here
soffice runs with a profile of its own whose ``OOXMLRecalcMode`` is 0
("always recalculate"). The test suite proves it: a deliberately wrong cached
value comes back corrected.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from bondmodel.errors import WorkbookError

_REGISTRY = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry"
 xmlns:xs="http://www.w3.org/2001/XMLSchema"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load">
<prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Load">
<prop oor:name="ODFRecalcMode" oor:op="fuse"><value>0</value></prop></item>
</oor:items>
"""


def soffice_path() -> str | None:
    """The LibreOffice executable, or None when it is not installed."""
    return shutil.which("soffice") or shutil.which("libreoffice")


def make_profile(folder: Path) -> Path:
    """Create a LibreOffice user profile that always recalculates on load."""
    user = folder / "user"
    user.mkdir(parents=True, exist_ok=True)
    (user / "registrymodifications.xcu").write_text(_REGISTRY, encoding="utf-8")
    return folder


def convert(source: Path, outdir: Path, to: str = "xlsx", timeout: float = 300) -> Path:
    """Open ``source`` in headless LibreOffice, recalculate, and save it as ``to`` in ``outdir``.

    Returns the converted file's path.
    """
    return convert_many([source], outdir, to=to, timeout=timeout)[0]


def convert_many(
    sources: list[Path], outdir: Path, to: str = "xlsx", timeout: float = 600
) -> list[Path]:
    """:func:`convert` for several files in one LibreOffice start (much faster).

    The sources must have distinct file names; the results keep their stems.
    """
    if not sources:
        return []  # soffice started with no file to convert waits forever
    exe = soffice_path()
    if exe is None:
        raise WorkbookError("LibreOffice (soffice) is not installed; see the README's test command")
    if len({s.stem for s in sources}) != len(sources):
        raise WorkbookError("convert_many needs sources with distinct file names")
    outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bondmodel-lo-") as tmp:
        profile = make_profile(Path(tmp) / "profile")
        cmd = [
            exe,
            f"-env:UserInstallation={profile.resolve().as_uri()}",
            "--headless",
            "--norestore",
            "--calc",
            "--convert-to",
            to,
            "--outdir",
            str(outdir),
            *[str(s) for s in sources],
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    targets = [outdir / f"{s.stem}.{to.split(':')[0]}" for s in sources]
    missing = [t for t in targets if not t.exists()]
    if done.returncode != 0 or missing:
        # the sources it failed on: those without a result, or all when it stopped with an error
        failed = [s for s, t in zip(sources, targets, strict=True) if t in missing] or sources
        said = " ".join((done.stderr.strip() or done.stdout.strip()).split())[:400]
        raise WorkbookError(
            f"LibreOffice failed to convert {', '.join(str(s) for s in failed)} to {to} "
            f"(exit {done.returncode}){': ' + said if said else ''}"
        )
    return targets
