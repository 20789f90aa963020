from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from config import health

# "View site" in the admin header opens the staff dashboard.
admin.site.site_url = "/staff/"

# The recommendation endpoints first: the shop frontend's hot path is matched before any other pattern is tried.
api_v1 = [
    path("", include("recommender.api.urls")),
    path("", include("shop.api.urls")),
    path("", include("segments.api.urls")),
    path("", include("marketing.api.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    # The language switch (Django's set_language view) posts here.
    path("i18n/", include("django.conf.urls.i18n")),
    path("staff/", include("marketing.staff.urls")),
    path("staff/recommender/", include("recommender.urls")),
    path("staff/marketing/reports/", include("marketing.report_urls")),
    path("m/", include("marketing.urls")),
    # The demo storefront (settings.DEMO_STOREFRONT), using the shop's browser client.
    path("shop/", include("shop.storefront")),
    path("api/v1/", include((api_v1, "api"), namespace="v1")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
]
