"""predictions: on-demand detections per image (issue 18)

Revision ID: 0005_predictions
Revises: 0004_annotations_unique
Create Date: 2026-12-02 04:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_predictions"
down_revision: str | None = "0004_annotations_unique"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "predictions",
        sa.Column("image_id", ID, nullable=False),
        sa.Column("pool_id", ID, nullable=False),
        sa.Column("cycle_id", ID, nullable=True),
        sa.Column("job_id", ID, nullable=True),
        sa.Column("boxes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["image_id"], ["images.id"],
                                name=op.f("fk_predictions_image_id_images"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["pool_id"], ["pools.id"],
                                name=op.f("fk_predictions_pool_id_pools"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["cycle_id"], ["cycles.id"],
                                name=op.f("fk_predictions_cycle_id_cycles"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"],
                                name=op.f("fk_predictions_job_id_jobs"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("image_id", name=op.f("pk_predictions")),
    )  # fmt: skip
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_predictions_pool_id"), ["pool_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_predictions_pool_id"))
    op.drop_table("predictions")
