from django.apps import AppConfig


class AttemptsConfig(AppConfig):
    name = "proctorhub.attempts"
    label = "attempts"
