"""Write an attempt row and its history row: one statement on PostgreSQL, ``save()`` elsewhere."""

from __future__ import annotations

import functools

from proctorhub.attempts.models import Attempt
from proctorhub.db.sql import (
    execute,
    history_select,
    history_table,
    is_postgresql,
    prep,
    qn,
    writable_fields,
)


def save_attempt(attempt: Attempt, *, history: bool = True) -> None:
    """Save every column of a stored attempt (derived ones recomputed), plus a history row with
    ``attempt._change_reason`` / ``_history_user`` when ``history`` (a status change); without it
    only the row (e.g. a review that leaves the status where it is)."""
    if attempt._state.adding or not is_postgresql():
        _save_orm(attempt, history=history)
        return
    attempt.refresh_derived()
    params = [prep(f, attempt, add=False) for f in writable_fields(Attempt)] + [attempt.pk]
    sql = _update_sql()
    if history:
        columns, select, extra = history_select(Attempt, "u", attempt, history_type_sql="'~'")
        sql = (f"WITH u AS ({sql} RETURNING *) "
               f"INSERT INTO {history_table(Attempt)} ({columns}) SELECT {select} FROM u")
        params += extra
    execute(sql, params)


@functools.cache
def _update_sql() -> str:
    meta = Attempt._meta
    return (f"UPDATE {qn(meta.db_table)} SET "
            + ", ".join(f"{qn(f.column)} = %s" for f in writable_fields(Attempt))
            + f" WHERE {qn(meta.pk.column)} = %s")


def _save_orm(attempt: Attempt, *, history: bool) -> None:
    if history:
        attempt.save()
        return
    attempt.skip_history_when_saving = True
    try:
        attempt.save()
    finally:
        del attempt.skip_history_when_saving
