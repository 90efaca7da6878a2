from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "proctorhub.accounts"
    label = "accounts"
