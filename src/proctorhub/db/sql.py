"""Pieces of SQL built from Django model metadata (column lists, typed placeholders, history rows).

The review path writes a row together with its django-simple-history row in one PostgreSQL
statement (a data-modifying ``WITH``). These helpers build those statements from ``_meta`` so
that a new model field needs no SQL edit. Values go through each field's own ``pre_save`` and
``get_db_prep_save``, exactly as ``Model.save()`` would send them.
"""

from __future__ import annotations

import functools
from typing import Any

from django.db import connection, models
from django.utils import timezone
from simple_history.models import HistoricalRecords


def qn(name: str) -> str:
    return connection.ops.quote_name(name)


def is_postgresql() -> bool:
    return connection.vendor == "postgresql"


@functools.cache
def writable_fields(model: type[models.Model]) -> tuple[models.Field, ...]:
    return tuple(f for f in model._meta.concrete_fields if not f.primary_key)


def prep(field: models.Field, obj: models.Model, *, add: bool) -> Any:
    """The value ``save()`` would send for ``field`` (runs ``auto_now`` and friends)."""
    return field.get_db_prep_save(field.pre_save(obj, add), connection)


def typed(field: models.Field) -> str:
    """A placeholder with an explicit cast, for values read from ``VALUES`` lists."""
    return f"%s::{field.db_type(connection)}"


def history_user_id(obj: models.Model) -> int | None:
    """Who django-simple-history would record: ``_history_user``, else the signed-in user of the
    request being served (its middleware), else nobody."""
    user = getattr(obj, "_history_user", None)
    if user is None:
        request = getattr(HistoricalRecords.context, "request", None)
        user = getattr(request, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return getattr(user, "pk", None)


def history_select(model: type[models.Model], source: str, obj: models.Model, *,
                   history_type_sql: str) -> tuple[str, str, list[Any]]:
    """``(columns, select list, params)`` that copy row ``source`` (a CTE's ``RETURNING *``) into
    the model's history table, with the date, reason and user that simple-history would write."""
    columns, exprs, wanted = _history_shape(model, source, history_type_sql)
    values = {"history_date": timezone.now,
              "history_change_reason": lambda: getattr(obj, "_change_reason", None),
              "history_user_id": lambda: history_user_id(obj)}
    return columns, exprs, [values[column]() for column in wanted]


@functools.cache
def _history_shape(model: type[models.Model], source: str,
                   history_type_sql: str) -> tuple[str, str, tuple[str, ...]]:
    """The statement's static part, built once per model (reading ``model.history`` is slow)."""
    history = model.history.model._meta
    columns, exprs, wanted = [], [], []
    for field in history.concrete_fields:
        if field.name == "history_id":
            continue
        columns.append(qn(field.column))
        if field.column in ("history_date", "history_change_reason", "history_user_id"):
            exprs.append(typed(field))
            wanted.append(field.column)
        elif field.column == "history_type":
            exprs.append(history_type_sql)
        else:
            exprs.append(f"{source}.{qn(field.column)}")
    return ", ".join(columns), ", ".join(exprs), tuple(wanted)


@functools.cache
def history_table(model: type[models.Model]) -> str:
    return qn(model.history.model._meta.db_table)


def execute(sql: str, params: list[Any]) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []
