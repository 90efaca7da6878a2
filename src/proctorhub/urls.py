from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from proctorhub.api.errors import json_404, json_500
from proctorhub.api.views_callbacks import PSIReviewCallbackView

urlpatterns = [
    path("api/v1/", include("proctorhub.api.urls")),
    # Open edX's PSI callback URL, so a PSI account set up for Open edX can point here unchanged.
    path("edx_proctoring/proctoring_review_callback/", PSIReviewCallbackView.as_view(),
         name="edx-psi-review-callback"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("staff/", include("proctorhub.dashboard.urls")),
]

handler404 = json_404
handler500 = json_500
