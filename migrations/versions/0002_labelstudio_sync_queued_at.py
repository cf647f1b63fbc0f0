"""labelstudio_connections.sync_queued_at: coalesce webhook-triggered syncs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("labelstudio_connections") as batch:
        batch.add_column(sa.Column("sync_queued_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("labelstudio_connections") as batch:
        batch.drop_column("sync_queued_at")
