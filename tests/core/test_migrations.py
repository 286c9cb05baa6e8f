"""The SQL store's schema comes from Alembic migrations, on SQLite and on Postgres, and matches the models."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from core.db import Base, Database, alembic_config


def _revision(db: Database) -> str:
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def test_migrations_build_the_models_schema_and_rerun_safely(database_url):
    db = Database(database_url)
    db.migrate()
    db.migrate()  # a second process starting later finds nothing to do
    with db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    assert _revision(db) == ScriptDirectory.from_config(alembic_config()).get_current_head()
    db.dispose()


def test_a_database_from_before_migrations_is_stamped_and_upgraded_keeping_its_rows(database_url):
    db = Database(database_url)
    with db.engine.begin() as connection:  # the schema as create_all made it, with an answer in it
        command.upgrade(alembic_config(connection), "0001")
        connection.execute(sa.text("DROP TABLE alembic_version"))
        connection.execute(
            sa.text("INSERT INTO answers (id, tenant, collection, question, confidence, generator, body, created_at) "
                    "VALUES ('a1', 't', 'c', 'q?', 0.9, 'extractive', '{}', CURRENT_TIMESTAMP)")
        )
    db.migrate()
    with db.engine.connect() as connection:
        row = connection.execute(sa.text("SELECT question, model, input_tokens, cost_usd FROM answers")).one()
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    assert tuple(row) == ("q?", "", 0, 0.0)
    db.dispose()
