#!/usr/bin/env bash
# Pre-release only: regenerate the single initial migration from alp.db metadata.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
rm -f migrations/versions/0001_initial.py
ALP_DATABASE_URL="sqlite:///$tmp/empty.db" .venv/bin/alembic revision --autogenerate \
  --rev-id 0001 -m "initial schema" >/dev/null
mv migrations/versions/0001_initial_schema.py migrations/versions/0001_initial.py
.venv/bin/ruff format -q migrations/versions/0001_initial.py || true
rm -rf "$tmp"
echo "regenerated migrations/versions/0001_initial.py"
