from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "proctorhub.notifications"
    label = "notifications"
