"""Named points on the write path where a reliability run can hold a process, to SIGKILL it exactly there.

Off unless `CAIRN_FAULTS__HOLD_AT` names a point; then the process writes a line to the marker file when it reaches
that point and waits `hold_s` before going on. The points:
- `swap`: a document version's points are all written, staged (invisible), and the older versions are still live;
- `delete`: a document's chunks have left the index; its catalog entry and upload files are still there.
"""

from __future__ import annotations

import json
import os
import threading
import time

from core.settings import FaultSettings

POINTS = frozenset({"swap", "delete"})


class Failpoints:
    def __init__(self, settings: FaultSettings | None = None):
        self.settings = settings or FaultSettings()
        unknown = self.settings.hold_at - POINTS
        if unknown:
            raise ValueError(f"unknown failpoint(s) {sorted(unknown)}: known are {sorted(POINTS)}")
        self._lock = threading.Lock()

    def reach(self, point: str, **detail: str) -> None:
        if point not in self.settings.hold_at:
            return
        if self.settings.marker is not None:
            line = json.dumps({"point": point, "pid": os.getpid(), "time": time.time(), **detail})
            with self._lock, self.settings.marker.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")
        time.sleep(self.settings.hold_s)
