from django.urls import include, path

from shop.api import catalog, privacy, views

urlpatterns = [
    path("events", views.EventBatchView.as_view(), name="events"),
    path("categories", catalog.CategoryListView.as_view(), name="categories"),
    # PUT on a collection upserts each item by its key; no "batch" path segment to collide with an id.
    path("customers", views.CustomerBatchView.as_view(), name="customer-batch"),
    path("customers/<str:external_id>/export", privacy.CustomerExportView.as_view(), name="customer-export"),
    path("customers/<str:external_id>", views.CustomerView.as_view(), name="customer"),
    path("products", views.ProductBatchView.as_view(), name="product-batch"),
    path("products/<str:sku>", views.ProductView.as_view(), name="product"),
    path("sources/", include("shop.sources.urls")),
]
