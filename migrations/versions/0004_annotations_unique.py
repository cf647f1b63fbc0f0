"""annotations: one row per (image, source) without an external id

Before, ``uq_annotations_external`` (image_id, source, external_id) did not hold for rows
whose external_id is NULL (NULLs are distinct), so concurrent first writes of one image
through the API stored several rows. Duplicates are removed here (the most recently
updated row of each (image, source) is kept, ties by the highest id), then a partial
unique index enforces one such row.

Revision ID: 0004_annotations_unique
Revises: 0003_ls
Create Date: 2026-12-02 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_annotations_unique"
down_revision: str | None = "0003_ls"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "uq_annotations_image_source_local"
WHERE = sa.text("external_id IS NULL")


def upgrade() -> None:
    op.execute(
        """
        DELETE FROM annotations
        WHERE external_id IS NULL AND id NOT IN (
            SELECT id FROM (
                SELECT id, ROW_NUMBER() OVER (
                    PARTITION BY image_id, source ORDER BY updated_at DESC, id DESC
                ) AS rn
                FROM annotations
                WHERE external_id IS NULL
            ) AS ranked
            WHERE rn = 1
        )
        """
    )
    op.create_index(
        INDEX,
        "annotations",
        ["image_id", "source"],
        unique=True,
        sqlite_where=WHERE,
        postgresql_where=WHERE,
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="annotations")
