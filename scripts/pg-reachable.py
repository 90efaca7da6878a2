"""Exit 0 when the PostgreSQL server of the given URL answers (connecting to its postgres db)."""

import sys
from urllib.parse import urlparse

import psycopg

url = urlparse(sys.argv[1])
try:
    psycopg.connect(
        host=url.hostname or "127.0.0.1", port=url.port or 5432, user=url.username or "postgres",
        password=url.password or None, dbname="postgres", connect_timeout=3,
    ).close()
except Exception as exc:  # noqa: BLE001
    print(f"PostgreSQL check failed: {type(exc).__name__}: {exc}", file=sys.stderr)
    sys.exit(1)
