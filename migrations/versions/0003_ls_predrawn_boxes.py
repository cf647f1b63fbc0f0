"""selections.ls_boxes: how many boxes each Label Studio task got pre-drawn

Revision ID: 0003_ls
Revises: 0002
Create Date: 2026-12-02 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_ls"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("selections") as batch:
        batch.add_column(sa.Column("ls_boxes", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("selections") as batch:
        batch.drop_column("ls_boxes")
