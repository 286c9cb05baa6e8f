"""Conversations and their turns (follow-up questions made self-contained).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 00:40:00

"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        'conversations',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('tenant', sa.String(length=128), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_conversations_tenant', 'conversations', ['tenant'], unique=False)
    op.create_table(
        'conversation_turns',
        sa.Column('conversation_id', sa.String(length=36), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('question', sa.Text(), nullable=False),
        sa.Column('standalone_question', sa.Text(), nullable=False),
        sa.Column('answer_id', sa.String(length=36), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('conversation_id', 'position'),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('conversation_turns')
    op.drop_index('ix_conversations_tenant', table_name='conversations')
    op.drop_table('conversations')
