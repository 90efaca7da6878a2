from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "proctorhub.dashboard"
    label = "dashboard"
    verbose_name = "Staff pages"
