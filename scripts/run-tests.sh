#!/usr/bin/env bash
# Run the whole suite on SQLite, then again on PostgreSQL when it is reachable.
# Under CI (CI=true) a missing PostgreSQL is a failure, not a skip.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
TEST_DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/proctorhub_test}
VAR_DIR=$(mktemp -d)
trap 'rm -rf "$VAR_DIR"' EXIT
export PROCTORHUB_VAR_DIR="$VAR_DIR" PROCTORHUB_ENV=test
unset PROCTORHUB_CONFIG

echo "== test suite on SQLite =="
DATABASE_URL="sqlite:///$VAR_DIR/test.sqlite3" "$PYTHON" -m pytest "$@"
sqlite_rc=$?

if "$PYTHON" scripts/pg-reachable.py "$TEST_DATABASE_URL"; then
    echo "== test suite on PostgreSQL ($TEST_DATABASE_URL) =="
    DATABASE_URL="$TEST_DATABASE_URL" "$PYTHON" -m pytest "$@"
    pg_rc=$?
else
    echo "PostgreSQL is not reachable at $TEST_DATABASE_URL: the PostgreSQL run is skipped (set TEST_DATABASE_URL to run it)."
    if [ "${CI:-}" = "true" ]; then
        echo "CI=true: PostgreSQL is required in CI; failing." >&2
        exit 1
    fi
    pg_rc=0
fi
[ "$sqlite_rc" -eq 0 ] && [ "$pg_rc" -eq 0 ]
