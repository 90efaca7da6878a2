"""Profile the review callback in-process: ``python -m bench.profile [sqlite|postgres] [N]``.

Prints the top functions by cumulative and by own time (cProfile) for N callbacks through
Django's test client on a fresh benchmark database.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import sys

from bench import run


def main() -> None:
    db = sys.argv[1] if len(sys.argv) > 1 else "postgres"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    run.prepare_env(db)
    import django

    django.setup()
    import logging

    logging.disable(logging.INFO)
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    exam, users = run.setup_base(n + 20)
    warm = run.make_attempts(exam, users[:20], "W")
    run.phase_inproc(warm)
    ids = run.make_attempts(exam, users[20:], "P")
    prof = cProfile.Profile()
    prof.enable()
    result = run.phase_inproc(ids)
    prof.disable()
    print(f"{db}: {result['per_s']:.0f} callbacks/s, {result['queries_mean']:.1f} queries each")
    for key in ("cumulative", "tottime"):
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats(key).print_stats(35)
        print(out.getvalue())


if __name__ == "__main__":
    main()
