"""What every command group shares: the error exit, the composition root, eval run folders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

from core.settings import Settings
from eval import report
from eval.runs import eval_settings

if TYPE_CHECKING:
    from api.root import Root


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def open_root(settings: Settings | None = None) -> Root:
    # Imported here for start-up cost: `cairn --help` and argument errors do not load every service's libraries.
    from api.root import Root

    return Root(settings or Settings())


def open_eval_root(dataset: Path) -> Root:
    """Evaluations keep their own index and caches (under the data dir), apart from the served collections."""
    return open_root(eval_settings(Settings(), dataset))


# Item-by-item detail of a run (each question, each claim): in results.json, not on the terminal.
DETAIL_KEYS = ("per_question", "claims")


def write_results(result: dict, out: Path) -> None:
    """Each run gets its own folder under `out` (results.json, report.md, charts); `out/latest` names the newest.
    The figures are printed; the item-by-item detail is only in results.json."""
    folder = report.save_run(result, out / report.new_run_id(result["suite"]))
    (out / "latest").write_text(folder.name + "\n")
    typer.echo(json.dumps({k: v for k, v in result.items() if k not in DETAIL_KEYS}, indent=2))
    detail = [k for k in DETAIL_KEYS if k in result]
    typer.echo(f"written to {folder} (results.json{', with ' + ' and '.join(detail) if detail else ''}; report.md, "
               "charts)", err=True)
