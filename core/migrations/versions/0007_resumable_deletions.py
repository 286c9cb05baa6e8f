"""Deletions under way are recorded, so that one interrupted half-way through is finished later.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 09:00:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        'deletions',
        sa.Column('document_id', sa.String(length=36), nullable=False),
        sa.Column('tenant', sa.String(length=128), nullable=False),
        sa.Column('collection', sa.String(length=128), nullable=False),
        sa.Column('store_names', sa.JSON(), nullable=False),
        sa.Column('stored_paths', sa.JSON(), nullable=False),
        sa.Column('texts', sa.JSON(), nullable=False),
        sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('document_id'),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('deletions')
