from django.apps import AppConfig


class ExamsConfig(AppConfig):
    name = "proctorhub.exams"
    label = "exams"
