"""GET /api/v1/customers/{external_id}/segments: the customer's segments in every active segmentation."""

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from segments.selectors import customer_segments
from shop.selectors import customer_by_external_id


class CustomerSegmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    key = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    segmentation = serializers.CharField(source="run.definition.name")
    segmentation_id = serializers.IntegerField(source="run.definition_id")
    method = serializers.CharField(source="run.method")
    run = serializers.IntegerField(source="run_id")
    computed_at = serializers.DateTimeField(source="run.finished_at")


class CustomerSegmentsView(APIView):
    required_scopes = {"GET": "customers:read"}
    class OutputSerializer(serializers.Serializer):
        customer = serializers.CharField()
        segments = CustomerSegmentSerializer(many=True)

    @extend_schema(responses=OutputSerializer, summary="The customer's segments in every active segmentation")
    def get(self, request, external_id: str):
        customer = customer_by_external_id(external_id=external_id)
        if customer is None:
            raise Http404("No customer with this id.")
        segments = customer_segments(customer_id=customer.pk)
        return Response(self.OutputSerializer({"customer": customer.external_id, "segments": segments}).data)
