"""annotation_revisions: append-only history of every annotation change

Each existing annotation row gets one ``put`` revision (author unknown, time = its last
update), so history starts from what is stored today.

Revision ID: 0008_annotation_revisions
Revises: 0007_roles
Create Date: 2026-12-02 04:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_annotation_revisions"
down_revision: str | None = "0007_roles"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "annotation_revisions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("image_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=True),
        sa.Column("boxes", sa.JSON(), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["images.id"],
            name=op.f("fk_annotation_revisions_image_id_images"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotation_revisions")),
    )
    op.create_index("ix_annotation_revisions_image_id", "annotation_revisions", ["image_id", "id"])
    op.execute(
        """
        INSERT INTO annotation_revisions
            (image_id, action, source, external_id, boxes, author, created_at)
        SELECT image_id, 'put', source, external_id, boxes, NULL, updated_at
        FROM annotations ORDER BY updated_at, id
        """
    )


def downgrade() -> None:
    op.drop_index("ix_annotation_revisions_image_id", table_name="annotation_revisions")
    op.drop_table("annotation_revisions")
