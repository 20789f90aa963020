from django.urls import path

from marketing.api.views import CustomerOffersView

urlpatterns = [
    path("customers/<str:external_id>/offers", CustomerOffersView.as_view(), name="customer-offers"),
]
