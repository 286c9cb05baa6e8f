"""The `cairn` command line: the same services as the HTTP API, for files, folders and terminals. Each command
group is a module of this package; every command builds the composition root (`api.root.Root`) it runs on."""

from __future__ import annotations

import typer

from core.offline import configure_offline

configure_offline()  # before any model library is imported: no model hub at run time

from api.cli import admin, documents, evals, serving  # noqa: E402

app = typer.Typer(help="Cairn: a RAG knowledge backend.", no_args_is_help=True, add_completion=False)
app.add_typer(documents.documents_app, name="documents")
app.add_typer(evals.eval_app, name="eval")
app.add_typer(admin.keys_app, name="keys")
app.add_typer(admin.review_app, name="review")
app.add_typer(admin.db_app, name="db")
for command in (documents.ingest, documents.search, documents.ask, evals.calibrate, admin.cost, admin.drift,
                serving.serve, serving.worker):
    app.command()(command)


def main() -> None:  # pragma: no cover - console entry point
    app()
