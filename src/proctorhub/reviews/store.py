"""Write an attempt's one review with its history row and comments.

On PostgreSQL this is one statement: an upsert on the attempt (``ON CONFLICT (attempt_id)``), the
history row copied from what the upsert returned, the old comments deleted (when replaced) and the
new ones inserted. Elsewhere the ORM does the same in a few statements.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from proctorhub.db.sql import (
    execute,
    history_select,
    history_table,
    is_postgresql,
    prep,
    qn,
    typed,
    writable_fields,
)
from proctorhub.reviews.models import Review, ReviewComment

COMMENT_FIELDS = ("start", "stop", "duration", "comment", "status")


def save_review(review: Review, comments: Sequence[ReviewComment], *, replace_comments: bool,
                keep: Sequence[str] = ()) -> Review:
    """Insert or update the review of ``review.attempt_id`` (``review.pk`` is set on return).

    ``replace_comments``: the review's old comments go (a provider's new review); otherwise they
    stay and ``comments`` are added (a staff verdict keeps the provider's). ``keep``: columns an
    update leaves as they are (e.g. the video link when the new review brings none).
    """
    if is_postgresql():
        return _save_pg(review, comments, replace_comments=replace_comments, keep=keep)
    return _save_orm(review, comments, replace_comments=replace_comments, keep=keep)


def _save_pg(review: Review, comments: Sequence[ReviewComment], *, replace_comments: bool,
             keep: Sequence[str]) -> Review:
    params = [prep(f, review, add=True) for f in writable_fields(Review)]
    _, _, extra = history_select(Review, "r", review, history_type_sql=HISTORY_TYPE)
    params += extra
    cfields = [ReviewComment._meta.get_field(n) for n in COMMENT_FIELDS]
    params += [prep(f, c, add=True) for c in comments for f in cfields]
    sql = _upsert_sql(tuple(keep), replace_comments, len(comments))
    [(pk, created_at)] = execute(sql, params)
    review.pk, review.created_at = pk, created_at
    review._state.adding, review._state.db = False, "default"
    return review


HISTORY_TYPE = "CASE WHEN r.inserted THEN '+' ELSE '~' END"


@functools.cache
def _upsert_sql(keep: tuple[str, ...], replace_comments: bool, n_comments: int) -> str:
    """The statement for one shape of write (built once per shape)."""
    meta = Review._meta
    fields = writable_fields(Review)
    unchanged = {"attempt_id", "created_at", *(meta.get_field(n).column for n in keep)}
    updates = ", ".join(f"{qn(f.column)} = EXCLUDED.{qn(f.column)}" for f in fields
                        if f.column not in unchanged)
    ctes = [f"r AS (INSERT INTO {qn(meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) "
            f"VALUES ({', '.join(['%s'] * len(fields))}) "
            f"ON CONFLICT ({qn('attempt_id')}) DO UPDATE SET {updates} "
            "RETURNING *, (xmax = 0) AS inserted)"]
    columns, select, _ = history_select(Review, "r", Review(), history_type_sql=HISTORY_TYPE)
    ctes.append(f"h AS (INSERT INTO {history_table(Review)} ({columns}) SELECT {select} FROM r)")
    comment_table = qn(ReviewComment._meta.db_table)
    if replace_comments:
        ctes.append(f"d AS (DELETE FROM {comment_table} WHERE {qn('review_id')} IN "
                    "(SELECT id FROM r WHERE NOT r.inserted))")
    if n_comments:
        cfields = [ReviewComment._meta.get_field(n) for n in COMMENT_FIELDS]
        names = ", ".join(qn(f.column) for f in cfields)
        row = "(" + ", ".join(typed(f) for f in cfields) + ")"
        ctes.append(f"c AS (INSERT INTO {comment_table} ({qn('review_id')}, {names}) "
                    f"SELECT r.id, v.* FROM r, (VALUES {', '.join([row] * n_comments)}) "
                    f"AS v({names}))")
    return f"WITH {', '.join(ctes)} SELECT id, created_at FROM r"


def _save_orm(review: Review, comments: Sequence[ReviewComment], *, replace_comments: bool,
              keep: Sequence[str]) -> Review:
    existing = Review.objects.filter(attempt_id=review.attempt_id).first()
    if existing is not None:
        review.pk, review.created_at = existing.pk, existing.created_at
        review._state.adding = False
        for name in keep:
            setattr(review, name, getattr(existing, name))
    review.save()
    if replace_comments and existing is not None:
        review.comments.all().delete()
    for comment in comments:
        comment.review = review
    ReviewComment.objects.bulk_create(comments)
    return review
