from django.urls import path

from recommender.api import views

urlpatterns = [
    path(
        "recommendations/<str:external_id>",
        views.RecommendationsView.as_view(),
        name="recommendations",
    ),
    path("products/<str:sku>/similar", views.SimilarProductsView.as_view(), name="product-similar"),
    path("products/<str:sku>/bought-together", views.BoughtTogetherView.as_view(), name="product-bought-together"),
    path("popular", views.PopularProductsView.as_view(), name="popular"),
]
