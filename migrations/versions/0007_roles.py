"""api keys: role, pool limit, expiry

Every existing key (the bootstrap key included) becomes ``admin`` — what all keys could do
before roles existed. ``pools`` NULL means "every pool"; ``expires_at`` NULL means "never".

Revision ID: 0007_roles
Revises: 0006_backtests
Create Date: 2026-12-02 04:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_roles"
down_revision: str | None = "0006_backtests"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(
            sa.Column("role", sa.String(length=16), nullable=False, server_default="admin")
        )
        batch.add_column(sa.Column("pools", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("expires_at")
        batch.drop_column("pools")
        batch.drop_column("role")
