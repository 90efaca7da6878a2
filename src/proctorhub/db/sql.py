"""Pieces of SQL built from Django model metadata (column lists, typed placeholders, history rows).

The review path writes a row together with its django-simple-history row in one PostgreSQL
statement (a data-modifying ``WITH``). These helpers build those statements from ``_meta`` so
that a new model field needs no SQL edit. Values go through each field's own ``pre_save`` and
``get_db_prep_save``, exactly as ``Model.save()`` would send them.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, models
from django.utils import timezone
from simple_history.models import HistoricalRecords


def qn(name: str) -> str:
    return connection.ops.quote_name(name)


def is_postgresql() -> bool:
    return connection.vendor == "postgresql"


def writable_fields(model: type[models.Model]) -> list[models.Field]:
    return [f for f in model._meta.concrete_fields if not f.primary_key]


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
    history = model.history.model._meta
    columns, exprs, params = [], [], []
    for field in history.concrete_fields:
        if field.name == "history_id":
            continue
        columns.append(qn(field.column))
        if field.column == "history_date":
            exprs.append(typed(field))
            params.append(timezone.now())
        elif field.column == "history_change_reason":
            exprs.append(typed(field))
            params.append(getattr(obj, "_change_reason", None))
        elif field.column == "history_user_id":
            exprs.append(typed(field))
            params.append(history_user_id(obj))
        elif field.column == "history_type":
            exprs.append(history_type_sql)
        else:
            exprs.append(f"{source}.{qn(field.column)}")
    return ", ".join(columns), ", ".join(exprs), params


def execute(sql: str, params: list[Any]) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []
