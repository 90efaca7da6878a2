from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "proctorhub.reviews"
    label = "reviews"
