"""Administration: API keys, the review queue's export, cost, drift, the SQL store."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import fail, open_root
from core.access import Role
from eval import cost as cost_report
from eval import drift as drift_report

keys_app = typer.Typer(help="API keys (each bound to a tenant and a role).", no_args_is_help=True)
review_app = typer.Typer(help="The human-review queue.", no_args_is_help=True)
db_app = typer.Typer(help="The SQL store.", no_args_is_help=True)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="What the key is for (shown in lists).")],
    role: Annotated[str, typer.Option(help="reader, editor or admin.")] = "reader",
    tenant: Annotated[str | None, typer.Option(help="Tenant the key acts for (default: CAIRN_TENANT).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create a key and print it (once: only its hash is stored). The first key closes an open embedded API."""
    if role not in {r.value for r in Role}:
        fail(f"role must be one of {', '.join(r.value for r in Role)}, not {role!r}")
    root = open_root()
    try:
        row, key = root.keys.create(tenant or root.settings.tenant, role, name)
    except ValueError as exc:
        fail(str(exc))
    finally:
        root.close()
    if as_json:
        typer.echo(json.dumps({"id": row.id, "tenant": row.tenant, "role": row.role, "name": row.name, "key": key}))
    else:
        typer.echo(f"{key}\n(id {row.id}, tenant {row.tenant}, role {row.role}; keep the key: it is not shown again)")


@keys_app.command("list")
def keys_list(tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys.")] = None) -> None:
    root = open_root()
    try:
        for row in root.keys.list(tenant):
            state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
            typer.echo(f"{row.id}  {row.prefix}...  {row.tenant}  {row.role}  {row.name}  {state}")
    finally:
        root.close()


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    root = open_root()
    try:
        if not root.keys.revoke(key_id):
            fail(f"no key {key_id}", 1)
        typer.echo(f"revoked {key_id}")
    finally:
        root.close()


@review_app.command("export")
def review_export(
    out: Annotated[Path, typer.Argument(help="JSONL file to write (`cairn eval ragas` reads it).")],
    tenant: Annotated[str | None, typer.Option(help="Tenant (default: CAIRN_TENANT).")] = None,
) -> None:
    """Approved and corrected answers as an eval dataset."""
    root = open_root()
    try:
        rows = root.review.export(tenant or root.settings.tenant)
    finally:
        root.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    typer.echo(f"{len(rows)} reviewed answers written to {out}")


def cost(
    days: Annotated[float, typer.Option(help="Answers of the last N days make the request mix.")] = 30,
    tenant: Annotated[str | None, typer.Option(help="One tenant (default: all).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Project monthly LLM cost at 100, 10,000 and 100,000 requests a day from the recorded request mix."""
    root = open_root()
    try:
        report = cost_report.tenant_report(root.answer_log, root.settings, tenant, days)
    finally:
        root.close()
    typer.echo(json.dumps(report, indent=2) if as_json else cost_report.format_report(report))


def drift(
    recent_days: Annotated[float, typer.Option(help="The recent window: the last N days.")] = 7,
    reference_days: Annotated[float, typer.Option(help="The reference window: N days before the recent one.")] = 28,
    tenant: Annotated[str | None, typer.Option(help="Tenant (default: CAIRN_TENANT).")] = None,
) -> None:
    """Compare recent questions with a reference window (exit code 3 when drift is found, for alerting)."""
    root = open_root()
    try:
        result = drift_report.tenant_report(root.answer_log, root.review, root.embedder, root.metrics,
                                            tenant or root.settings.tenant, datetime.now(UTC),
                                            recent_days, reference_days)
    finally:
        root.close()
    typer.echo(json.dumps(result, indent=2))
    if result["drifted"]:
        raise typer.Exit(3)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the SQL store's migrations (every process also does this at start-up)."""
    root = open_root()
    try:
        root.db  # migrates
        typer.echo(f"database at the newest revision: {root.settings.sqlalchemy_url.split('@')[-1]}")
    finally:
        root.close()
