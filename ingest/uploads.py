"""The upload area: where files sent over HTTP are kept (under the data dir) until their outcome, or for as long as
they are a document's content; nothing outside it is ever deleted."""

from __future__ import annotations

import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePath

from core.types import RejectedDocument, RejectReason

_UNSAFE_CHARACTERS = re.compile(r"[^\w.\- ]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def upload_name(name: str | None) -> str:
    """The name an uploaded file is known by: its last path component with shell and control characters replaced.
    RejectedDocument(unsafe_name) for a name that tries to climb out of its folder or hides control characters."""
    given = (name or "").replace("\\", "/")
    if _CONTROL.search(given) or ".." in PurePath(given).parts:
        raise RejectedDocument(RejectReason.UNSAFE_NAME, f"the file name {name!r} points outside its folder or holds control characters")
    cleaned = _UNSAFE_CHARACTERS.sub("_", PurePath(given).name).strip(" .")
    return cleaned[:200] or "upload"


@dataclass
class UploadArea:
    root: Path

    def new_batch(self) -> Path:
        """A fresh folder for the files of one request."""
        folder = self.root / uuid.uuid4().hex
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def owns(self, path: Path) -> bool:
        return path.resolve().is_relative_to(self.root.resolve())

    def discard(self, path: Path) -> None:
        """Deletes an uploaded file (and its batch folder once empty); a path outside the area is left alone (the
        CLI ingests the user's own files in place)."""
        if not self.owns(path):
            return
        path.unlink(missing_ok=True)
        folder = path.parent
        if folder.resolve() != self.root.resolve() and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()

    def discard_batch(self, folder: Path) -> None:
        if self.owns(folder) and folder.resolve() != self.root.resolve():
            shutil.rmtree(folder, ignore_errors=True)
