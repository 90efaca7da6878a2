"""The ``null`` provider: timed exams without proctoring."""

from proctorhub.providers.base import Provider


class NullProvider(Provider):
    name = "null"
    verbose_name = "No proctoring (timed exam)"

    def instructions(self) -> list[str]:
        return ["This exam is timed but not proctored: start when you are ready."]
