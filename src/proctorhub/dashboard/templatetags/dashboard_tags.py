"""Small formatting filters for the staff pages."""

from __future__ import annotations

from django import template

from proctorhub.dashboard.attempt_selectors import clock

register = template.Library()


@register.filter
def label(value) -> str:
    """``second_review_required`` -> ``second review required``."""
    return str(value or "").replace("_", " ")


@register.filter
def hms(seconds) -> str:
    """Seconds as ``m:ss`` or ``h:mm:ss``; empty for ``None``."""
    return "" if seconds is None else clock(int(seconds))


@register.filter
def hours(delta) -> str:
    """A waiting time, short: ``45 min``, ``5 h``, ``3 d``."""
    if delta is None:
        return ""
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 120:
        return f"{minutes} min"
    if minutes < 72 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // 1440} d"
