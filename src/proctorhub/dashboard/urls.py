"""Staff pages, mounted at ``/staff/``."""

from django.urls import path

from proctorhub.dashboard import views_allowances, views_attempt, views_queue

app_name = "dashboard"

urlpatterns = [
    path("", views_queue.queue, name="queue"),
    path("export.csv", views_queue.export_csv, name="export"),
    path("exams/", views_queue.exams, name="exams"),
    path("exams/<int:exam_id>/allowances", views_allowances.allowances, name="allowances"),
    path("exams/<int:exam_id>/allowances/grant", views_allowances.grant, name="allowance-grant"),
    path("exams/<int:exam_id>/allowances/remove", views_allowances.remove,
         name="allowance-remove"),
    path("attempts/<int:attempt_id>", views_attempt.attempt_page, name="attempt"),
    path("attempts/<int:attempt_id>/decide", views_attempt.decide, name="decide"),
    path("attempts/<int:attempt_id>/reset", views_attempt.reset, name="reset"),
    path("attempts/<int:attempt_id>/video", views_attempt.video, name="video"),
]
