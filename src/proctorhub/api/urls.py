from django.urls import path

from proctorhub.api import views_attempts, views_callbacks, views_exams, views_health

urlpatterns = [
    path("exams", views_exams.ExamListView.as_view(), name="exam-list"),
    path("exams/<int:exam_id>", views_exams.ExamDetailView.as_view(), name="exam-detail"),
    path("exams/<int:exam_id>/allowances", views_exams.AllowanceView.as_view(), name="allowances"),
    path("attempts", views_attempts.AttemptListView.as_view(), name="attempt-list"),
    path("attempts/<int:attempt_id>", views_attempts.AttemptDetailView.as_view(),
         name="attempt-detail"),
    path("attempts/<int:attempt_id>/actions", views_attempts.AttemptActionView.as_view(),
         name="attempt-actions"),
    path("providers/<str:provider>/attempts/<str:external_id>/reviewed",
         views_callbacks.StandardReviewCallbackView.as_view(), name="standard-review-callback"),
    path("health", views_health.HealthView.as_view(), name="health"),
]
