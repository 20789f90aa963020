"""Staff pages, included by the project under /staff/recommender/."""

from django.urls import path

from recommender import views

app_name = "recommender"

urlpatterns = [
    path("customers/", views.customer_search, name="customer-search"),
    path("customers/<str:external_id>/", views.customer_recommendations, name="customer"),
]
