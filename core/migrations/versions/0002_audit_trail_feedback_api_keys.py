"""The audit trail (API key, model, tokens, cost, timings, retrieved chunks per answer), feedback, API keys.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 14:47:25.669474

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0002'
down_revision: Union[str, Sequence[str], None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('api_keys',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('tenant', sa.String(length=128), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key_hash')
    )
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_keys_tenant'), ['tenant'], unique=False)

    op.create_table('feedback',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('answer_id', sa.String(length=36), nullable=False),
    sa.Column('tenant', sa.String(length=128), nullable=False),
    sa.Column('api_key_id', sa.String(length=36), nullable=True),
    sa.Column('rating', sa.String(length=8), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('correction', sa.Text(), nullable=True),
    sa.Column('chunk_ids', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['answer_id'], ['answers.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feedback_answer_id'), ['answer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_feedback_tenant'), ['tenant'], unique=False)

    # Answers logged before this revision get empty audit fields (server defaults), not a failed migration.
    with op.batch_alter_table('answers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('api_key_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('model', sa.String(length=200), nullable=False, server_default=sa.text("''")))
        batch_op.add_column(sa.Column('input_tokens', sa.Integer(), nullable=False, server_default=sa.text("0")))
        batch_op.add_column(sa.Column('output_tokens', sa.Integer(), nullable=False, server_default=sa.text("0")))
        batch_op.add_column(sa.Column('cost_usd', sa.Float(), nullable=False, server_default=sa.text("0")))
        batch_op.add_column(sa.Column('total_ms', sa.Float(), nullable=False, server_default=sa.text("0")))
        batch_op.add_column(sa.Column('top_score', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('retrieved', sa.JSON(), nullable=True))
        batch_op.create_index('ix_answers_tenant_created', ['tenant', 'created_at'], unique=False)

    with op.batch_alter_table('review_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reviewer_key_id', sa.String(length=36), nullable=True))



def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('review_items', schema=None) as batch_op:
        batch_op.drop_column('reviewer_key_id')

    with op.batch_alter_table('answers', schema=None) as batch_op:
        batch_op.drop_index('ix_answers_tenant_created')
        batch_op.drop_column('retrieved')
        batch_op.drop_column('top_score')
        batch_op.drop_column('total_ms')
        batch_op.drop_column('cost_usd')
        batch_op.drop_column('output_tokens')
        batch_op.drop_column('input_tokens')
        batch_op.drop_column('model')
        batch_op.drop_column('api_key_id')

    with op.batch_alter_table('feedback', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feedback_tenant'))
        batch_op.drop_index(batch_op.f('ix_feedback_answer_id'))

    op.drop_table('feedback')
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_keys_tenant'))

    op.drop_table('api_keys')
