"""ticket_outbox: tickets waiting for delivery to the operator's webhook (ivr.handoff.tickets).

Revision ID: 0002_ticket_outbox
Revises: 0001_calls
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_ticket_outbox"
down_revision = "0001_calls"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ticket_outbox",
        sa.Column("id", sa.String(96), nullable=False),
        sa.Column("call_sid", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_ticket_outbox"),
    )
    op.create_index("ix_ticket_outbox_call_sid", "ticket_outbox", ["call_sid"])
    op.create_index("ix_ticket_outbox_next_attempt_at", "ticket_outbox", ["next_attempt_at"])


def downgrade() -> None:
    op.drop_table("ticket_outbox")
