"""Write an attempt row and its history row: one statement on PostgreSQL, ``save()`` elsewhere."""

from __future__ import annotations

from proctorhub.attempts.models import Attempt
from proctorhub.db.sql import execute, history_select, is_postgresql, prep, qn, writable_fields


def save_attempt(attempt: Attempt, *, history: bool = True) -> None:
    """Save every column of a stored attempt (derived ones recomputed), plus a history row with
    ``attempt._change_reason`` / ``_history_user`` when ``history`` (a status change); without it
    only the row (e.g. a review that leaves the status where it is)."""
    if attempt._state.adding or not is_postgresql():
        _save_orm(attempt, history=history)
        return
    attempt.refresh_derived()
    meta = Attempt._meta
    fields = writable_fields(Attempt)
    sql = (f"UPDATE {qn(meta.db_table)} SET "
           + ", ".join(f"{qn(f.column)} = %s" for f in fields)
           + f" WHERE {qn(meta.pk.column)} = %s")
    params = [prep(f, attempt, add=False) for f in fields] + [attempt.pk]
    if history:
        columns, select, extra = history_select(Attempt, "u", attempt, history_type_sql="'~'")
        sql = (f"WITH u AS ({sql} RETURNING *) "
               f"INSERT INTO {qn(Attempt.history.model._meta.db_table)} ({columns}) "
               f"SELECT {select} FROM u")
        params += extra
    execute(sql, params)


def _save_orm(attempt: Attempt, *, history: bool) -> None:
    if history:
        attempt.save()
        return
    attempt.skip_history_when_saving = True
    try:
        attempt.save()
    finally:
        del attempt.skip_history_when_saving
