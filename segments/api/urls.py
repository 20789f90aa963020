from django.urls import path

from segments.api.views import CustomerSegmentsView

urlpatterns = [
    path("customers/<str:external_id>/segments", CustomerSegmentsView.as_view(), name="customer-segments"),
]
