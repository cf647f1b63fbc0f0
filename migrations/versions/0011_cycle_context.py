"""cycles: the scoring-context cache gets its own column

The pool-level scoring context (labeled class frequencies, class qualities) was cached in
the cycle's settings snapshot under ``_scoring_context``; it moves to the nullable JSON
column ``cycles.scoring_context`` (the downgrade moves it back).

Revision ID: 0011_cycle_context
Revises: 0010_score_shard_pass
Create Date: 2026-12-02 07:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_cycle_context"
down_revision: str | None = "0010_score_shard_pass"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = "_scoring_context"
cycles = sa.table(
    "cycles",
    sa.column("id", sa.Integer()),
    sa.column("config", sa.JSON()),
    sa.column("scoring_context", sa.JSON()),
)


def upgrade() -> None:
    with op.batch_alter_table("cycles") as batch:
        batch.add_column(sa.Column("scoring_context", sa.JSON(), nullable=True))
    conn = op.get_bind()
    for cycle_id, config in conn.execute(sa.select(cycles.c.id, cycles.c.config)).all():
        if isinstance(config, dict) and KEY in config:
            rest = {k: v for k, v in config.items() if k != KEY}
            conn.execute(
                cycles.update()
                .where(cycles.c.id == cycle_id)
                .values(config=rest, scoring_context=config[KEY])
            )


def downgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.select(cycles.c.id, cycles.c.config, cycles.c.scoring_context))
    for cycle_id, config, context in rows.all():
        if context is None:  # SQL NULL or JSON null: nothing cached
            continue
        merged = {**(config if isinstance(config, dict) else {}), KEY: context}
        conn.execute(cycles.update().where(cycles.c.id == cycle_id).values(config=merged))
    with op.batch_alter_table("cycles") as batch:
        batch.drop_column("scoring_context")
