"""Each index entry records the format its chunks were written in: an entry of an older format is re-indexed when
its document is ingested again, even with the same content.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 03:40:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0009'
down_revision: Union[str, Sequence[str], None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema: entries written before this column were written in format 1."""
    with op.batch_alter_table('index_entries') as batch:
        batch.add_column(sa.Column('index_format', sa.Integer(), nullable=False, server_default='1'))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('index_entries') as batch:
        batch.drop_column('index_format')
