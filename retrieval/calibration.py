"""The answer confidence's calibration: a small logistic model over the signals an answer's evidence gives, fitted
on labelled answers (`cairn calibrate`), with the threshold below which Cairn abstains; versioned files."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

# The signals every extractive draft reports (retrieval.generation.ExtractiveGenerator), in the model's order.
SIGNALS = ("best_logit", "context_logit", "margin", "coverage", "agreement", "passage_rank", "search_score", "question_form",
           "question_best_logit")
UNCALIBRATED = "uncalibrated"
# The search_score signal is the best passage's RRF score (how far the dense and the keyword search agree on it),
# whichever fusion ranked the passages; a calibration records it as `fitted_on["search_fusion"]`.
SEARCH_SCORE_SCALE = "rrf"
# Fitted by `cairn calibrate` on the shared eval data and shipped with Cairn (see README, Answers and abstention).
SHIPPED = Path(__file__).with_name("calibration.json")


@dataclass(frozen=True)
class Calibration:
    """confidence = sigmoid(intercept + sum(weight * (signal - mean) / scale)); abstain below `threshold`."""

    version: str
    weights: dict[str, float]
    intercept: float
    means: dict[str, float]
    scales: dict[str, float]
    threshold: float
    fitted_on: dict = field(default_factory=dict)  # datasets, examples, figures before/after on held-back labels

    def readable(self, signals: dict[str, float]) -> dict[str, float]:
        """The signals as this calibration can read them: without the search score when it was fitted on another
        scale (before the search score was always the RRF score, a DBSF-ranked search reported its DBSF score)."""
        if self.fitted_on.get("search_fusion", SEARCH_SCORE_SCALE) != SEARCH_SCORE_SCALE:
            return {name: value for name, value in signals.items() if name != "search_score"}
        return signals

    def confidence(self, signals: dict[str, float]) -> float:
        """A signal the answer lacks (an audit record written before the signal existed) counts as its mean over the
        fit set: neither for nor against. So does a search score on another scale (`readable`)."""
        signals = self.readable(signals)
        z = self.intercept + sum(
            w * (float(signals.get(name, self.means[name])) - self.means[name]) / self.scales[name]
            for name, w in self.weights.items()
        )
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def as_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(data: dict) -> Calibration:
        return Calibration(
            version=data["version"], weights=dict(data["weights"]), intercept=float(data["intercept"]),
            means=dict(data["means"]), scales=dict(data["scales"]), threshold=float(data["threshold"]),
            fitted_on=dict(data.get("fitted_on") or {}),
        )

    @staticmethod
    def version_of(weights: dict, intercept: float, means: dict, scales: dict, threshold: float) -> str:
        """A content hash: the same model always has the same version, a refit a new one."""
        body = json.dumps([weights, intercept, means, scales, threshold], sort_keys=True)
        return "cal-" + hashlib.sha256(body.encode()).hexdigest()[:12]


class CalibrationStore:
    """Calibration files in a folder: `<version>.json`, and `current.json` naming the one answers use."""

    def __init__(self, folder: Path):
        self.folder = folder

    def save(self, calibration: Calibration, make_current: bool = True) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{calibration.version}.json"
        path.write_text(json.dumps(calibration.as_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        if make_current:
            pointer = self.folder / "current.json.tmp"
            pointer.write_text(json.dumps({"version": calibration.version}) + "\n", encoding="utf-8")
            pointer.replace(self.folder / "current.json")  # atomic: a reader sees the old or the new version
        return path

    def examples_path(self, calibration: Calibration) -> Path:
        """The labelled signals a calibration was fitted on (a later refit from review adds to them); the shipped
        calibration keeps its beside it."""
        own = self.folder / f"{calibration.version}.examples.jsonl"
        shipped = SHIPPED.with_name(SHIPPED.stem + "_examples.jsonl")
        return shipped if not own.is_file() and shipped.is_file() and calibration.version == _shipped_version() else own

    def current(self) -> Calibration | None:
        pointer = self.folder / "current.json"
        if not pointer.is_file():
            return None
        version = json.loads(pointer.read_text(encoding="utf-8"))["version"]
        return load_calibration(self.folder / f"{version}.json")


def load_calibration(path: Path) -> Calibration:
    try:
        return Calibration.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"the calibration file {path} cannot be read ({exc})") from None


def _shipped_version() -> str | None:
    try:
        return json.loads(SHIPPED.read_text(encoding="utf-8"))["version"]
    except (OSError, ValueError, KeyError):
        return None
