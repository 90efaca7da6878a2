from django.apps import AppConfig


class RuntimeConfig(AppConfig):
    name = "proctorhub.runtime"
    label = "runtime"
