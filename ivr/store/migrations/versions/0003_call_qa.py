"""call_qa: automatic QA findings per finished call (ivr.handoff.qa).

Revision ID: 0003_call_qa
Revises: 0001_calls
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_call_qa"
down_revision = "0001_calls"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "call_qa",
        sa.Column("call_sid", sa.String(64), nullable=False),
        sa.Column("plan", sa.String(128), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("call_sid", name="pk_call_qa"),
    )
    op.create_index("ix_call_qa_plan", "call_qa", ["plan"])


def downgrade() -> None:
    op.drop_table("call_qa")
