"""`GET /api/v1/customers/{external_id}/offers`: the shop frontend's call on each page that can show an offer.

Served like the recommendation endpoints (the same lean API-key, scope and throttle path, orjson), because it is
called as often.
"""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers

from marketing.api.serializers import CustomerOffersSerializer
from marketing.onsite import customer_offers
from recommender.api.views import LeanAPIView


class CustomerOffersView(LeanAPIView):
    required_scopes = {"GET": "offers:read"}

    @extend_schema(
        operation_id="customer_offers",
        summary="On-site offers for a customer",
        description=(
            "The running on-site campaigns this customer belongs to (their segments, not excluded, not on the "
            "suppression list), each with its content rendered for them: headline, HTML and text, their coupon "
            "code, the offer's terms and their recommended products. The first call records the impression. "
            "Customers in a campaign's control group get nothing for it (their impression time is still "
            "recorded, for the comparison); an unknown customer gets an empty list."
        ),
        responses={
            200: CustomerOffersSerializer,
            401: inline_serializer("OffersError", {"detail": serializers.CharField()}),
        },
        tags=["offers"],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def answer(self, params, *, external_id: str) -> dict:
        return {"customer": external_id, "offers": customer_offers(external_id=external_id)}
