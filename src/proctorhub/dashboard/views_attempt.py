"""The attempt page and its actions: decide (verify / reject), watch the video, reset.

Writes go only through the services: :func:`proctorhub.reviews.staff.review_by_staff` (the same
pipeline as provider reviews: history, outbox events, emails), :func:`reveal_video_link` (audited)
and :func:`proctorhub.attempts.services.archive_attempt`.
"""

from __future__ import annotations

import logging

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from proctorhub.attempts.lifecycle import ActedBy
from proctorhub.attempts.services import archive_attempt
from proctorhub.attempts.statuses import Actor
from proctorhub.dashboard import attempt_selectors as sel
from proctorhub.dashboard.access import is_htmx, staff_page, visible_attempt
from proctorhub.dashboard.forms import DecideForm, ResetForm
from proctorhub.dashboard.selectors import review_of
from proctorhub.errors import DomainError
from proctorhub.reviews.staff import reveal_video_link, review_by_staff

log = logging.getLogger(__name__)

#: Staff decision -> the staff review status that the policy turns into it.
DECISION_STATUS = {"verify": "passed", "reject": "suspicious"}


def _context(request: HttpRequest, attempt_id: int, **extra) -> dict:
    attempt = visible_attempt(request, attempt_id, "review", "review__reviewed_by")
    review = review_of(attempt)
    versions = sel.review_versions(review)
    provider = sel.provider_view(review, versions)
    now = timezone.now()
    return {
        "nav": "queue", "attempt": attempt, "exam": attempt.exam, "learner": attempt.user,
        "review": review,
        "times": sel.times(attempt, now), "history": sel.status_history(attempt),
        "versions": versions, "provider": provider,
        "raw_fields": sel.raw_fields(provider.provider, provider.raw) if provider else [],
        "timeline": (sel.timeline(provider.comments, sel.session_seconds(attempt, now))
                     if provider else None),
        "comments": provider.comments if provider else [],
        "decisions": sel.decisions(attempt), "allowance": sel.allowance_of(attempt),
        "deliveries": sel.deliveries(attempt),
        "decide_form": extra.pop("decide_form", None) or DecideForm(),
        "reset_form": extra.pop("reset_form", None) or ResetForm(),
        **extra,
    }


def _body(request: HttpRequest, attempt_id: int, *, status: int = 200, flash: str = "",
          flash_error: bool = False, **extra) -> HttpResponse:
    """The attempt's body, for htmx swaps in place (with the status message out of band)."""
    context = _context(request, attempt_id, **extra)
    context.update(flash=flash, flash_error=flash_error, oob=True)
    return render(request, "dashboard/_attempt_body.html", context, status=status)


@require_GET
@staff_page
def attempt_page(request: HttpRequest, attempt_id: int) -> HttpResponse:
    return render(request, "dashboard/attempt.html", _context(request, attempt_id))


def _done(request: HttpRequest, attempt_id: int, message: str) -> HttpResponse:
    if is_htmx(request):
        return _body(request, attempt_id, flash=message)
    messages.success(request, message)
    return redirect("dashboard:attempt", attempt_id=attempt_id)


def _again(request: HttpRequest, attempt_id: int, status: int, message: str, **forms):
    """Show the page again with the form (errors, or a confirm step) in place."""
    if is_htmx(request):
        return _body(request, attempt_id, status=status, flash=message,
                     flash_error=status >= 400, **forms)
    context = _context(request, attempt_id, **forms)
    context.update(flash=message, flash_error=status >= 400)
    return render(request, "dashboard/attempt.html", context, status=status)


@require_POST
@staff_page
def decide(request: HttpRequest, attempt_id: int) -> HttpResponse:
    attempt = visible_attempt(request, attempt_id)
    form = DecideForm(request.POST)
    if not form.is_valid():
        return _again(request, attempt_id, 400, "The decision needs a reason.", decide_form=form)
    decision = form.cleaned_data["decision"]
    allowed = sel.decisions(attempt)
    if not allowed[decision]:
        return _again(request, attempt_id, 409,
                      allowed["why"] or f"This attempt is already {attempt.status}.",
                      decide_form=form)
    if decision == "reject" and not form.cleaned_data["confirm"]:
        return _again(request, attempt_id, 200, "Confirm the rejection below.",
                      decide_form=form, confirm_reject=True)
    try:
        applied = review_by_staff(attempt, request.user, status=DECISION_STATUS[decision],
                                  reason=form.cleaned_data["reason"],
                                  comment=form.cleaned_data["comment"])
    except DomainError as exc:
        return _again(request, attempt_id, exc.http_status, exc.detail, decide_form=form)
    log.info("staff decision", extra={"attempt_id": attempt.pk, "user_id": request.user.pk,
                                      "decision": decision, "new_status": applied.new_status})
    return _done(request, attempt_id, f"Attempt {attempt.pk} is now "
                 f"{applied.new_status.replace('_', ' ')}.")


@require_POST
@staff_page
def reset(request: HttpRequest, attempt_id: int) -> HttpResponse:
    attempt = visible_attempt(request, attempt_id)
    form = ResetForm(request.POST)
    if not form.is_valid():
        return _again(request, attempt_id, 400, "The reset needs a reason.", reset_form=form)
    if attempt.is_archived:
        return _again(request, attempt_id, 409, "This attempt was already reset.")
    if not form.cleaned_data["confirm"]:
        return _again(request, attempt_id, 200, "Confirm the reset below.", reset_form=form,
                      confirm_reset=True)
    by = ActedBy(Actor.STAFF, f"user:{request.user.pk}", request.user)
    try:
        archive_attempt(attempt.pk, by, reason=form.cleaned_data["reason"])
    except DomainError as exc:
        return _again(request, attempt_id, exc.http_status, exc.detail, reset_form=form)
    return _done(request, attempt_id, f"Attempt {attempt.pk} was reset: the learner may "
                 "start a new attempt.")


@require_POST
@staff_page
def video(request: HttpRequest, attempt_id: int) -> HttpResponse:
    """Decrypt the review's video link on demand; :func:`reveal_video_link` records the view."""
    attempt = visible_attempt(request, attempt_id, "review")
    review = review_of(attempt)
    status, link, error = 200, "", ""
    if review is None:
        status, error = 404, "This attempt has no review, so no video."
    else:
        try:
            link = reveal_video_link(review, request.user)
        except DomainError as exc:
            status, error = exc.http_status, exc.detail
    context = {"attempt": attempt, "link": link, "error": error}
    template = "dashboard/_video.html" if is_htmx(request) else "dashboard/video.html"
    response = render(request, template, context, status=status)
    response["Cache-Control"] = "no-store"  # the decrypted link is a secret: never cache it
    return response
