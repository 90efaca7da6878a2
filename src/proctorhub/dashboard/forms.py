"""Forms of the staff pages: queue filters, decisions, resets, allowances."""

from __future__ import annotations

import re
from decimal import Decimal

from django import forms

from proctorhub.attempts.statuses import Status

ATTENTION, ALL, SUSPICIOUS = "attention", "all", "suspicious"
STATUS_CHOICES = [(ATTENTION, "Needs a human (default)"), (ALL, "All statuses"),
                  (SUSPICIOUS, "Suspicious provider review")] + [
    (s.value, s.value.replace("_", " ")) for s in Status
]
SORT_CHOICES = [("oldest", "Oldest first"), ("newest", "Newest first")]
PER_PAGE_CHOICES = [(n, str(n)) for n in (5, 10, 25, 50, 100)]
DEFAULT_PER_PAGE = 25
MAX_BULK_USERNAMES = 500


class QueueFilterForm(forms.Form):
    """Queue filters. Unknown values fall back to defaults; a course outside the user's courses
    is refused by the view (403), not silently ignored."""

    course = forms.CharField(required=False, max_length=255, label="Course")
    exam = forms.IntegerField(required=False, min_value=1, label="Exam")
    status = forms.ChoiceField(required=False, choices=STATUS_CHOICES, label="Status")
    provider = forms.CharField(required=False, max_length=64, label="Provider")
    date_from = forms.DateField(required=False, label="Submitted from",
                                widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="Submitted to",
                              widget=forms.DateInput(attrs={"type": "date"}))
    q = forms.CharField(required=False, max_length=150, label="Username or attempt id")
    sort = forms.ChoiceField(required=False, choices=SORT_CHOICES, label="Sort by age")
    per_page = forms.TypedChoiceField(required=False, choices=PER_PAGE_CHOICES, coerce=int,
                                      label="Rows per page")

    def filters(self) -> dict:
        """Cleaned filters with defaults; invalid fields are dropped (the form shows why)."""
        self.is_valid()  # invalid fields are left out of cleaned_data
        data = self.cleaned_data
        return {
            "course": data.get("course") or "",
            "exam": data.get("exam"),
            "status": data.get("status") or ATTENTION,
            "provider": data.get("provider") or "",
            "date_from": data.get("date_from"),
            "date_to": data.get("date_to"),
            "q": (data.get("q") or "").strip(),
            "sort": data.get("sort") or "oldest",
            "per_page": data.get("per_page") or DEFAULT_PER_PAGE,
        }


class ReasonField(forms.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 2000)
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 2}))
        super().__init__(strip=True, **kwargs)


class DecideForm(forms.Form):
    decision = forms.ChoiceField(choices=[("verify", "Verify"), ("reject", "Reject")])
    reason = ReasonField(label="Reason (required, kept in the history)",
                         error_messages={"required": "Give a reason for the decision."})
    comment = forms.CharField(required=False, max_length=2000, label="Comment (optional)",
                              widget=forms.Textarea(attrs={"rows": 2}))
    confirm = forms.BooleanField(required=False)


class ResetForm(forms.Form):
    reason = ReasonField(label="Reason for the reset (required)",
                         error_messages={"required": "Give a reason for the reset."})
    confirm = forms.BooleanField(required=False)


def split_usernames(text: str) -> list[str]:
    """Usernames pasted one per line, or separated by commas, semicolons or spaces; deduplicated."""
    seen: dict[str, None] = {}
    for name in re.split(r"[\s,;]+", text or ""):
        if name:
            seen.setdefault(name, None)
    return list(seen)


class AllowanceForm(forms.Form):
    usernames = forms.CharField(
        label="Learners (usernames: one, or a pasted list — one per line or comma-separated)",
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "autocomplete": "off"}),
        error_messages={"required": "Enter at least one username."})
    additional_minutes = forms.IntegerField(label="Additional minutes", min_value=0,
                                            max_value=10000, required=False, initial=0)
    time_multiplier = forms.DecimalField(label="Time multiplier (e.g. 1.5; empty for none)",
                                         required=False, min_value=Decimal("1.00"),
                                         max_value=Decimal("99.99"), max_digits=4,
                                         decimal_places=2)
    review_policy_exception = forms.CharField(label="Review policy exception (optional)",
                                              required=False, max_length=2000,
                                              widget=forms.Textarea(attrs={"rows": 2}))
    reason = forms.CharField(label="Reason (optional, kept in the history)", required=False,
                             max_length=500)

    def clean_usernames(self) -> list[str]:
        names = split_usernames(self.cleaned_data["usernames"])
        if not names:
            raise forms.ValidationError("Enter at least one username.")
        if len(names) > MAX_BULK_USERNAMES:
            raise forms.ValidationError(f"At most {MAX_BULK_USERNAMES} usernames at once "
                                        f"({len(names)} given); split the list.")
        return names

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        if (not data.get("additional_minutes") and not data.get("time_multiplier")
                and not data.get("review_policy_exception")):
            raise forms.ValidationError("Give additional minutes, a time multiplier or a review "
                                        "policy exception.")
        return data


class RemoveAllowanceForm(forms.Form):
    allowance = forms.IntegerField(min_value=1)
