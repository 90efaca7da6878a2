from django.urls import path

from proctorhub.api import (
    views_attempts,
    views_callbacks,
    views_exams,
    views_health,
    views_launch,
    views_reviews,
)

urlpatterns = [
    path("exams", views_exams.ExamListView.as_view(), name="exam-list"),
    path("exams/<int:exam_id>", views_exams.ExamDetailView.as_view(), name="exam-detail"),
    path("exams/<int:exam_id>/allowances", views_exams.AllowanceView.as_view(), name="allowances"),
    path("attempts", views_attempts.AttemptListView.as_view(), name="attempt-list"),
    path("attempts/<int:attempt_id>", views_attempts.AttemptDetailView.as_view(),
         name="attempt-detail"),
    path("attempts/<int:attempt_id>/actions", views_attempts.AttemptActionView.as_view(),
         name="attempt-actions"),
    path("providers/software_secure/reviews", views_callbacks.PSIReviewCallbackView.as_view(),
         name="psi-review-callback"),
    path("providers/software_secure/reviews/<str:token>",
         views_callbacks.PSIReviewCallbackTokenView.as_view(), name="psi-review-callback-token"),
    path("providers/software_secure/launch/<str:attempt_code>",
         views_launch.PSILaunchView.as_view(), name="psi-launch"),
    path("providers/<str:provider>/attempts/<str:external_id>/reviewed",
         views_callbacks.StandardReviewCallbackView.as_view(), name="standard-review-callback"),
    path("attempts/<int:attempt_id>/review", views_reviews.AttemptReviewView.as_view(),
         name="attempt-review"),
    path("attempts/<int:attempt_id>/review/video", views_reviews.ReviewVideoView.as_view(),
         name="attempt-review-video"),
    path("health", views_health.HealthView.as_view(), name="health"),
]
