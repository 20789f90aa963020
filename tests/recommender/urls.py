"""The project's URLs plus the recommender staff pages, as config/urls.py includes them."""

from django.urls import include, path

from config.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    *[p for p in project_urlpatterns if getattr(p, "namespace", None) != "recommender"],
    path("staff/recommender/", include("recommender.urls")),
]
