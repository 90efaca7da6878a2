"""proctorhub: a standalone service for proctored online exams."""

__version__ = "0.1.0"
