"""The privacy operations of the API: a customer's data export and their erasure (both need `privacy:write`)."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from shop import privacy, selectors
from shop.api.fastjson import ORJSONParser
from shop.models import ApiClient, ApiScope, Customer


class ConsentSerializer(serializers.Serializer):
    given = serializers.BooleanField()
    changed_at = serializers.DateTimeField(allow_null=True)


class ExportedCustomerSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    email = serializers.CharField(allow_blank=True)
    name = serializers.CharField(allow_blank=True)
    gender = serializers.CharField(allow_blank=True)
    birth_year = serializers.IntegerField(allow_null=True)
    city = serializers.CharField(allow_blank=True)
    postal_code = serializers.CharField(allow_blank=True)
    country = serializers.CharField(allow_blank=True)
    signed_up_at = serializers.DateTimeField(allow_null=True)
    attributes = serializers.DictField()
    is_stub = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ExportedInteractionSerializer(serializers.Serializer):
    event_id = serializers.CharField()
    kind = serializers.CharField()
    sku = serializers.CharField()
    value = serializers.FloatField(allow_null=True)
    quantity = serializers.IntegerField()
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    order_ref = serializers.CharField(allow_blank=True)
    source = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    recommendation_id = serializers.CharField(allow_blank=True)
    coupon = serializers.CharField(allow_blank=True)


class CustomerExportSerializer(serializers.Serializer):
    exported_at = serializers.DateTimeField()
    customer = ExportedCustomerSerializer()
    consents = serializers.DictField(child=ConsentSerializer(), help_text="Per channel: email, sms, push.")
    interactions = ExportedInteractionSerializer(many=True)
    segment_memberships = serializers.ListField(
        child=serializers.DictField(), required=False, help_text="Segments the customer is a member of."
    )
    served_recommendations = serializers.ListField(
        child=serializers.DictField(), required=False, help_text="Recommendations served to the customer."
    )
    campaign_recipients = serializers.ListField(
        child=serializers.DictField(), required=False, help_text="Campaigns that considered the customer."
    )
    coupons = serializers.ListField(child=serializers.DictField(), required=False, help_text="Coupons issued.")
    suppressions = serializers.ListField(
        child=serializers.DictField(), required=False, help_text="Channels the customer must not be messaged on."
    )


class ErasureSerializer(serializers.Serializer):
    request = serializers.IntegerField(help_text="The audit record of this erasure.")
    erased_at = serializers.DateTimeField()
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="Rows erased per kind of data.")


NOT_FOUND = OpenApiResponse(description="No customer with this id.")
REFUSED = {
    401: OpenApiResponse(description="No API key, or an unknown or deactivated one."),
    403: OpenApiResponse(description="The key lacks the `privacy:write` scope, or a non-staff session."),
    429: OpenApiResponse(description="Over this client's rate; retry after the Retry-After header's seconds."),
}


def _customer(external_id: str) -> Customer:
    customer = selectors.customer_by_external_id(external_id=external_id)
    if customer is None:
        raise NotFound("No customer with this id.")
    return customer


def _actor(request) -> dict:
    if isinstance(request.auth, ApiClient):
        return {"api_client": request.auth}
    return {"user": request.user}


class CustomerExportView(APIView):
    parser_classes = [ORJSONParser]
    required_scopes = {"GET": ApiScope.PRIVACY_WRITE}

    @extend_schema(
        operation_id="customers_export",
        summary="Everything held about a customer",
        description=(
            "The customer's record, consents, interactions, segment memberships, the recommendations served "
            "to them and their campaign messages, coupons and suppressions, as one JSON document (the right of "
            "access). Recorded in the privacy audit with the "
            "calling client and the time."
        ),
        responses={200: CustomerExportSerializer, 404: NOT_FOUND, **REFUSED},
        tags=["privacy"],
    )
    def get(self, request, external_id: str):
        document = privacy.export_customer(customer=_customer(external_id), **_actor(request))
        return Response(document)


def erase(request, external_id: str) -> Response:
    """DELETE /api/v1/customers/{external_id}, served by the customer view."""
    audit = privacy.erase_customer(customer=_customer(external_id), **_actor(request))
    return Response(
        ErasureSerializer({"request": audit.pk, "erased_at": audit.created_at, "counts": audit.counts}).data
    )


ERASE_SCHEMA = extend_schema(
    operation_id="customers_erase",
    summary="Erase a customer",
    description=(
        "Deletes the customer, their interactions, segment memberships, served recommendations, campaign "
        "recipients (with their conversions), coupons and suppressions, and removes "
        "their name from the admin history (the right to be forgotten). Recommendations stop being personal "
        "for them within seconds; their row in the trained model is gone with the next training. Recorded in "
        "the privacy audit with the calling client and the time, without the customer's id."
    ),
    responses={200: ErasureSerializer, 404: NOT_FOUND, **REFUSED},
    tags=["privacy"],
)
