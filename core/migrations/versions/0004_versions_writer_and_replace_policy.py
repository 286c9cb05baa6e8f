"""Document versions record the API key that wrote them and their kept upload; jobs record their submitter; job
items say whether they may replace a live document with other content.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 23:50:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('document_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('written_by', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('stored_path', sa.Text(), nullable=True))
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('api_key_id', sa.String(length=36), nullable=True))
    with op.batch_alter_table('job_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('replace', sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('job_items', schema=None) as batch_op:
        batch_op.drop_column('replace')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('api_key_id')
    with op.batch_alter_table('document_versions', schema=None) as batch_op:
        batch_op.drop_column('stored_path')
        batch_op.drop_column('written_by')
