"""Reads for the attempt page: times, status history, review versions, the comment timeline,
the provider's raw fields, deliveries. Never the photo or the raw video link."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from proctorhub.attempts import timing
from proctorhub.attempts.models import Attempt
from proctorhub.attempts.statuses import REVIEWABLE, TIMED, Status
from proctorhub.exams.models import Allowance
from proctorhub.providers.base import InvalidReview
from proctorhub.providers.registry import UnknownProvider, get_provider
from proctorhub.reviews.models import Delivery, Review

_WHO = re.compile(r"^(?P<label>\S+) \((?P<actor>\w+)\) ?(?P<rest>.*)$", re.S)

#: Provider payload fields worth a reviewer's attention, by provider (dotted paths into ``raw``).
RAW_FIELDS: dict[str, list[tuple[str, str]]] = {
    "software_secure": [
        ("reviewStatus", "Review status"),
        ("examProcessingStatus", "Processing status"),
        ("overAllComments", "Overall comments"),
        ("examDate", "Exam date"),
        ("examMetaData.ssiRecordLocator", "Record locator"),
        ("examMetaData.reviewedExam", "Reviewed exam"),
        ("examMetaData.simulatedExam", "Simulated exam"),
        ("examApiData.reviewerNotes", "Reviewer notes"),
        ("examApiData.duration", "Duration (minutes)"),
    ],
    "staff": [("status", "Status"), ("reason", "Reason"), ("comment", "Comment")],
}
MAX_GENERIC_FIELDS = 12


def times(attempt: Attempt, now: datetime) -> dict[str, Any]:
    running = attempt.status in TIMED
    remaining = timing.seconds_left(attempt, now) if running else attempt.time_remaining_seconds
    return {"created": attempt.created_at, "started": attempt.started_at,
            "submitted": attempt.completed_at, "allowed_minutes": attempt.allowed_time_limit_mins,
            "remaining_seconds": remaining, "remaining_live": running,
            "deadline": timing.deadline(attempt)}


def status_history(attempt: Attempt) -> dict[str, Any]:
    """Status changes (who, when, why), oldest first; saves that changed no status are counted."""
    rows = (Attempt.history.filter(id=attempt.pk).select_related("history_user")
            .order_by("history_date", "history_id"))
    entries, hidden, previous = [], 0, None
    for h in rows:
        key = (h.status, h.is_archived)
        if previous is not None and key == previous:
            hidden += 1
            continue
        reason = h.history_change_reason or ""
        m = _WHO.match(reason)
        actor = m.group("actor") if m else ""
        who = h.history_user.username if h.history_user_id and h.history_user else (
            m.group("label") if m else "")
        entries.append({"when": h.history_date, "status": h.status, "archived": h.is_archived,
                        "archived_now": previous is not None and h.is_archived and not previous[1],
                        "who": who, "actor": actor, "why": _why(m.group("rest") if m else reason),
                        "reason": reason,
                        "from": previous[0] if previous else None})
        previous = key
    return {"entries": entries, "hidden": hidden}


def _why(rest: str) -> str:
    """``reject: a -> b; policy; staff reason`` -> ``reject: policy; staff reason`` (the change
    itself is shown in its own column)."""
    head, _, tail = rest.partition("; ")
    action = head.split(":", 1)[0].replace("_", " ")
    return f"{action}: {tail}" if tail else action


def review_versions(review: Review | None) -> list[Any]:
    if review is None:
        return []
    return list(review.history.select_related("reviewed_by", "history_user")
                .order_by("history_date", "history_id"))


@dataclass
class ProviderView:
    """The provider's own review (even after staff decided): its raw fields and comments."""

    provider: str = ""
    raw: dict[str, Any] = field(default_factory=dict)
    comments: list[dict[str, Any]] = field(default_factory=list)
    when: datetime | None = None
    note: str = ""


def provider_view(review: Review | None, versions: list[Any]) -> ProviderView | None:
    """The latest provider version of the review. A staff decision replaces the review and its
    comments; the provider's payload stays in the review history, so its comments are rebuilt
    from there (with the provider's own normalizer) for the timeline."""
    if review is None:
        return None
    if not review.is_staff_review:
        comments = [{"start": c.start, "stop": c.stop, "comment": c.comment, "status": c.status}
                    for c in review.comments.all()]
        return ProviderView(review.provider, review.raw or {}, comments, review.modified_at)
    earlier = [v for v in versions if not v.is_staff_review and isinstance(v.raw, dict)]
    if not earlier:
        return None
    version = earlier[-1]
    view = ProviderView(version.provider, version.raw, [], version.history_date,
                        "From the provider's review before the staff decision.")
    try:
        normalized = get_provider(version.provider).normalize_review(version.raw)
    except (UnknownProvider, InvalidReview, ValueError, TypeError, AttributeError):
        view.note += " Its comments could not be read again."
        return view
    view.comments = [{"start": c.start, "stop": c.stop, "comment": c.comment, "status": c.status}
                     for c in normalized.comments]
    return view


def _dig(raw: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(raw, dict) or part not in raw:
            return None
        raw = raw[part]
    return raw


def raw_fields(provider: str, raw: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(label, value) pairs of the fields that matter; unknown providers: top-level scalars."""
    if not isinstance(raw, dict):
        return []
    if provider in RAW_FIELDS:
        pairs = [(label, _dig(raw, path)) for path, label in RAW_FIELDS[provider]]
    else:
        pairs = [(key, value) for key, value in raw.items()
                 if isinstance(value, (str, int, float, bool)) or value is None]
        pairs = pairs[:MAX_GENERIC_FIELDS]
    return [(label, str(value)) for label, value in pairs if value not in (None, "")]


# --- the timeline -----------------------------------------------------------------------------

LANES = ["violation", "suspicious", "not_reviewed", "passed"]
LANE_LABELS = {"violation": "Violation", "suspicious": "Suspicious",
               "not_reviewed": "Not reviewed", "passed": "Clean"}
TRACK_X, TRACK_W, LANE_H, TOP = 110, 870, 26, 8
MIN_WIDTH = 4
TICK_STEPS = [30, 60, 120, 300, 600, 900, 1800, 3600, 7200]


def clock(seconds: int) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def session_seconds(attempt: Attempt, now: datetime) -> int:
    if attempt.started_at is None:
        return 0
    end = attempt.completed_at or (now if attempt.status in TIMED else attempt.modified_at)
    return max(0, int((end - attempt.started_at).total_seconds()))


def timeline(comments: list[dict[str, Any]], session: int) -> dict[str, Any] | None:
    """Geometry for an inline SVG: one lane per comment status over the session's duration."""
    if not comments:
        return None
    duration = max([session, 1] + [c["stop"] for c in comments])
    scale = TRACK_W / duration
    lanes = [lane for lane in LANES if any(c["status"] == lane for c in comments)]
    lanes += sorted({c["status"] for c in comments} - set(lanes))
    segments = []
    for c in comments:
        row = lanes.index(c["status"])
        x = TRACK_X + c["start"] * scale
        width = max(MIN_WIDTH, (c["stop"] - c["start"]) * scale)
        segments.append({"x": round(min(x, TRACK_X + TRACK_W - MIN_WIDTH), 1),
                         "y": TOP + row * LANE_H + 3, "w": round(width, 1), "h": LANE_H - 6,
                         "status": c["status"], "comment": c["comment"],
                         "start": clock(c["start"]), "stop": clock(c["stop"])})
    step = next((s for s in TICK_STEPS if duration / s <= 8), TICK_STEPS[-1])
    ticks = [{"x": round(TRACK_X + t * scale, 1), "label": clock(t)}
             for t in range(0, duration + 1, step)]
    height = TOP + len(lanes) * LANE_H
    return {"lanes": [{"status": lane, "label": LANE_LABELS.get(lane, lane),
                       "y": TOP + i * LANE_H + LANE_H / 2 + 5, "line_y": TOP + i * LANE_H}
                      for i, lane in enumerate(lanes)],
            "segments": segments, "ticks": ticks, "height": height, "total_height": height + 26,
            "duration": clock(duration), "track_x": TRACK_X, "track_w": TRACK_W,
            "session": clock(session) if session else "",
            "summary": f"{len(comments)} comment(s) over {clock(duration)}: " + ", ".join(
                f"{sum(1 for c in comments if c['status'] == lane)} {LANE_LABELS.get(lane, lane)}"
                for lane in lanes)}


# --- decisions and the rest -------------------------------------------------------------------

def decisions(attempt: Attempt) -> dict[str, Any]:
    """Which staff decisions the page offers, and why none when none."""
    if attempt.is_archived:
        return {"verify": False, "reject": False, "why": "This attempt was reset (archived); "
                "decisions no longer change it."}
    if not attempt.taking_as_proctored or not attempt.exam.is_proctored:
        return {"verify": False, "reject": False,
                "why": "This attempt was not taken under proctoring."}
    status = Status(attempt.status)
    verify = status in REVIEWABLE or status == Status.REJECTED
    reject = status in REVIEWABLE or status == Status.VERIFIED
    why = "" if verify or reject else (f"An attempt that is {status.value.replace('_', ' ')} "
                                       "cannot be decided yet: it must be submitted first.")
    return {"verify": verify, "reject": reject, "why": why,
            "override": status in (Status.VERIFIED, Status.REJECTED)}


def allowance_of(attempt: Attempt) -> Allowance | None:
    return Allowance.objects.filter(exam_id=attempt.exam_id, user_id=attempt.user_id).first()


def deliveries(attempt: Attempt, limit: int = 10) -> list[Delivery]:
    return list(Delivery.objects.filter(attempt=attempt)
                .only("id", "provider", "received_at", "outcome", "http_status", "detail")
                .order_by("-id")[:limit])
