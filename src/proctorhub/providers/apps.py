from django.apps import AppConfig


class ProvidersConfig(AppConfig):
    name = "proctorhub.providers"
    label = "providers"
