"""score_shards: a pass number for two-pass scoring (retrieval, then ranking)

Existing shards are pass 1; the unique key becomes (cycle_id, pass_no, index) so a
cycle's pass-2 shards count from 0 again.

Revision ID: 0010_score_shard_pass
Revises: 0009_audit
Create Date: 2026-12-02 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_score_shard_pass"
down_revision: str | None = "0009_audit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("score_shards") as batch:
        batch.add_column(sa.Column("pass_no", sa.Integer(), server_default="1", nullable=False))
        batch.drop_constraint("uq_score_shards_cycle_index", type_="unique")
        batch.create_unique_constraint(
            "uq_score_shards_cycle_pass_index", ["cycle_id", "pass_no", "index"]
        )


def downgrade() -> None:
    op.execute("DELETE FROM score_shards WHERE pass_no <> 1")
    with op.batch_alter_table("score_shards") as batch:
        batch.drop_constraint("uq_score_shards_cycle_pass_index", type_="unique")
        batch.create_unique_constraint("uq_score_shards_cycle_index", ["cycle_id", "index"])
        batch.drop_column("pass_no")
