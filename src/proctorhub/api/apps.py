from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "proctorhub.api"
    label = "api"
