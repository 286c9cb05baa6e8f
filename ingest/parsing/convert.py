"""Legacy Office and ODF files (.doc, .ppt, .xls, .odp, .ods, .rtf) converted by LibreOffice, headless, with a time limit."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from core.types import RejectedDocument, RejectReason


def _office() -> str:
    for name in ("soffice", "libreoffice"):
        found = shutil.which(name)
        if found:
            return found
    raise RejectedDocument(
        RejectReason.UNSUPPORTED,
        "this format is converted by LibreOffice, which is not installed here (Debian: libreoffice-writer-nogui, "
        "libreoffice-impress-nogui, libreoffice-calc-nogui)",
    )


def convert(path: Path, filename: str, to: str, into: Path, timeout_s: float) -> Path:
    """Converts `path` to the `to` format (docx, pptx, xlsx) in the folder `into`; the converted file's path."""
    office = _office()
    source = into / f"source{Path(filename).suffix.lower()}"
    shutil.copyfile(path, source)  # LibreOffice picks the import filter by the name too
    # A profile of its own per conversion: LibreOffice refuses to start beside another instance's profile lock.
    with tempfile.TemporaryDirectory(prefix="cairn-lo-") as profile:
        command = [
            office, f"-env:UserInstallation=file://{profile}", "--headless", "--norestore", "--nologo",
            "--convert-to", to, "--outdir", str(into), str(source),
        ]
        # Its own process group: LibreOffice's launcher starts the real office process as a child, and a timeout
        # must stop both.
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            output, _ = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise RejectedDocument(
                RejectReason.TIMEOUT, f"converting with LibreOffice took longer than the {timeout_s:g} s limit"
            ) from None
    converted = into / f"source.{to}"
    if process.returncode != 0 or not converted.is_file() or converted.stat().st_size == 0:
        said = " ".join((output or b"").decode(errors="replace").split())[:200]
        raise RejectedDocument(RejectReason.CORRUPT, f"LibreOffice could not convert this file{f' ({said})' if said else ''}")
    return converted
