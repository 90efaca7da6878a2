"""The ``proctorhub`` console script: our commands plus Django's management commands."""

from __future__ import annotations

import os
import sys

ALIASES = {
    "create-api-client": "create_api_client",
    "sweep-timeouts": "sweep_timeouts",
    "replay-deliveries": "replay_deliveries",
}


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proctorhub.settings")
    if len(argv) > 1:
        argv[1] = ALIASES.get(argv[1], argv[1])
    from proctorhub.config import ConfigError

    try:
        from django.core.management import execute_from_command_line

        execute_from_command_line(["proctorhub", *argv[1:]])
    except ConfigError as exc:
        sys.stderr.write(f"proctorhub: {exc}\n")
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
