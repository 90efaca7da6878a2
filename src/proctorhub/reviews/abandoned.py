"""Deliveries whose request was cut off before an outcome was written (the process was killed,
or the database went away between recording and answering) stay ``received``. The provider got
no answer and sends the review again as a new delivery; the sweep marks the old row ``failed``
so that nothing looks in flight forever."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.utils import timezone

from proctorhub.reviews.models import Delivery

log = logging.getLogger(__name__)

#: Far longer than any request may take (gunicorn's timeout is 60 s).
ABANDONED_AFTER = timedelta(minutes=10)


def settle_abandoned_deliveries(older_than: timedelta = ABANDONED_AFTER) -> int:
    settled = Delivery.objects.filter(
        outcome=Delivery.Outcome.RECEIVED, received_at__lt=timezone.now() - older_than,
    ).update(outcome=Delivery.Outcome.FAILED,
             detail="no outcome was recorded: the request was cut off before it was answered; "
                    "the provider retries it as a new delivery, or replay this one")
    if settled:
        log.warning("abandoned review deliveries marked failed", extra={"count": settled})
    return settled
