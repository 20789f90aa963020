"""The shop's API: events in, customers and catalog upserted, single records read back. Views hold no rules."""

from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from shop import selectors, services
from shop.api import (
    privacy,
    schema,  # noqa: F401  (registers the API-key scheme with drf-spectacular)
)
from shop.api import serializers as s
from shop.api.fastjson import ORJSONParser, ORJSONRenderer
from shop.models import ApiClient, ApiScope
from shop.sources.services import record_site_events

BAD_REQUEST = OpenApiResponse(description="Malformed JSON or invalid fields: an object of field errors.")
NOT_FOUND = OpenApiResponse(description="No such record.")
# Every operation: no or a bad key (401), a session without staff rights (403), over the client's rate (429).
REFUSED = {
    401: OpenApiResponse(description="No API key, or an unknown or deactivated one."),
    403: OpenApiResponse(
        description="The key lacks this operation's scope (named in `detail`), or a non-staff session."
    ),
    429: OpenApiResponse(description="Over this client's rate; retry after the Retry-After header's seconds."),
}


def _batch_items(data, key: str):
    """Batch bodies are a JSON list, or an object holding the list under `key`."""
    if isinstance(data, dict) and key in data:
        return data[key]
    return data


class ShopAPIView(APIView):
    # orjson parses faster and refuses absurd nesting with a 400 (the json module raises RecursionError: a 500).
    parser_classes = [ORJSONParser]


class EventBatchView(ShopAPIView):
    """POST /api/v1/events: the hot path, so JSON goes through orjson and each event costs a few dict lookups."""

    renderer_classes = [ORJSONRenderer]
    required_scopes = {"POST": ApiScope.EVENTS_WRITE}
    InputSerializer = s.EventBatchInputSerializer
    OutputSerializer = s.EventBatchResultSerializer

    @extend_schema(
        operation_id="events_record",
        summary="Record a batch of events",
        description=(
            'Up to 1,000 events (setting `EVENTS_MAX_BATCH`), as a JSON list or `{"events": [...]}`. Each event is '
            "answered in order: `accepted`, `duplicate` (its `event_id` is already stored, or repeated earlier in "
            "the batch) or `rejected` with the reason and the bad fields. The good events of a batch are stored "
            "even when others are rejected; resending a batch is safe. Unknown customers and products are created "
            "as stubs, completed later by the customer and product upserts. A visitor not signed in yet is sent "
            "as `anonymous_id` (the browser client's visitor id) instead of `customer_id`; an event of kind "
            '`login` carrying both (`{"event_id", "kind": "login", "customer_id", "anonymous_id"}`, no sku) '
            "joins that visitor's history to the customer, once."
        ),
        request=s.EventSerializer(many=True),
        responses={200: OutputSerializer, 400: BAD_REQUEST, **REFUSED},
        examples=[
            OpenApiExample(
                "A view and a purchase",
                request_only=True,
                value=[
                    {"event_id": "4f1c-0001", "customer_id": "C1001", "sku": "SKU-42", "kind": "view", "value": 12},
                    {
                        "event_id": "4f1c-0002",
                        "customer_id": "C1001",
                        "sku": "SKU-42",
                        "kind": "purchase",
                        "quantity": 2,
                        "amount": "19.98",
                        "currency": "EUR",
                        "order_ref": "O-778",
                        "occurred_at": "2026-11-26T10:15:00Z",
                    },
                ],
            )
        ],
        tags=["events"],
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        client = request.auth if isinstance(request.auth, ApiClient) else None
        results = record_site_events(events=serializer.validated_data["events"], client=client)
        # Built by hand rather than by OutputSerializer (which documents it): 1,000 results per request.
        counts = dict.fromkeys(services.EventStatus, 0)
        answers = []
        for result in results:
            counts[result.status] += 1
            answer = {"index": result.index, "event_id": result.event_id, "status": result.status.value}
            if result.reason:
                answer["reason"] = result.reason
            if result.errors:
                answer["errors"] = result.errors
            answers.append(answer)
        body = {outcome.value: count for outcome, count in counts.items()}
        body["results"] = answers
        return Response(body)


# GET one record by its key; PUT creates or updates it (201 when created, 200 when updated). A subclass names the
# key (the URL's keyword, also the selector's and service's), the serializers, the selector and the service, and
# declares its schema with extend_schema_view. Comments, not docstrings: drf-spectacular would publish those.
class RecordView(ShopAPIView):
    InputSerializer: type[serializers.Serializer]
    OutputSerializer: type[serializers.Serializer]
    key: str
    not_found: str
    select: Callable[..., Any]
    upsert: Callable[..., tuple[Any, bool]]

    def get(self, request, **kwargs):
        record = self.select(**{self.key: kwargs[self.key]})
        if record is None:
            raise NotFound(self.not_found)
        return Response(self.OutputSerializer(record).data)

    def put(self, request, **kwargs):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        record, created = self.upsert(**{self.key: kwargs[self.key]}, data=serializer.validated_data)
        return Response(
            self.OutputSerializer(record).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


# PUT up to MAX_UPSERT_BATCH records, all or nothing; `items` names the body's list and the service's keyword.
class BatchUpsertView(ShopAPIView):
    InputSerializer: type[serializers.Serializer]
    OutputSerializer = s.UpsertSummarySerializer
    items: str
    upsert_many: Callable[..., Any]

    def put(self, request):
        serializer = self.InputSerializer(
            data=_batch_items(request.data, self.items),
            many=True,
            allow_empty=False,
            max_length=services.MAX_UPSERT_BATCH,
        )
        serializer.is_valid(raise_exception=True)
        summary = self.upsert_many(**{self.items: serializer.validated_data})
        return Response(self.OutputSerializer(summary).data)


@extend_schema_view(
    get=extend_schema(
        operation_id="customers_retrieve",
        summary="A customer",
        responses={200: s.CustomerSerializer, 404: NOT_FOUND, **REFUSED},
        tags=["customers"],
    ),
    put=extend_schema(
        operation_id="customers_upsert",
        summary="Create or update a customer",
        description=(
            "Creates the customer, or updates it (completing a stub made by an event). Fields left out keep "
            "their stored values. A change of a consent stamps its `*_consent_changed_at`. "
            "201 when created, 200 when updated."
        ),
        request=s.CustomerInputSerializer,
        responses={200: s.CustomerSerializer, 201: s.CustomerSerializer, 400: BAD_REQUEST, **REFUSED},
        tags=["customers"],
    ),
)
class CustomerView(RecordView):
    required_scopes = {
        "GET": ApiScope.CUSTOMERS_READ,
        "PUT": ApiScope.CATALOG_WRITE,
        "DELETE": ApiScope.PRIVACY_WRITE,
    }
    InputSerializer = s.CustomerInputSerializer
    OutputSerializer = s.CustomerSerializer
    key = "external_id"
    not_found = "No customer with this id."
    select = staticmethod(selectors.customer_by_external_id)
    upsert = staticmethod(services.upsert_customer)

    @privacy.ERASE_SCHEMA
    def delete(self, request, external_id: str):
        return privacy.erase(request, external_id)


@extend_schema_view(
    put=extend_schema(
        operation_id="customers_upsert_batch",
        summary="Create or update many customers",
        description=(
            f"Up to {services.MAX_UPSERT_BATCH} customers, each with its `external_id`, as a JSON list or "
            '`{"customers": [...]}`. All or nothing: any invalid item makes a 400 listing the errors per item.'
        ),
        request=s.CustomerBatchItemSerializer(many=True),
        responses={200: s.UpsertSummarySerializer, 400: BAD_REQUEST, **REFUSED},
        tags=["customers"],
    ),
)
class CustomerBatchView(BatchUpsertView):
    required_scopes = {"PUT": ApiScope.CATALOG_WRITE}
    InputSerializer = s.CustomerBatchItemSerializer
    items = "customers"
    upsert_many = staticmethod(services.upsert_customers)


@extend_schema_view(
    get=extend_schema(
        operation_id="products_retrieve",
        summary="A product",
        responses={200: s.ProductSerializer, 404: NOT_FOUND, **REFUSED},
        tags=["products"],
    ),
    put=extend_schema(
        operation_id="products_upsert",
        summary="Create or update a product",
        description=(
            "Creates the product, or updates it (completing a stub made by an event). Fields left out keep their "
            "stored values. `category` is a category code, created when new. 201 when created, 200 when updated."
        ),
        request=s.ProductInputSerializer,
        responses={200: s.ProductSerializer, 201: s.ProductSerializer, 400: BAD_REQUEST, **REFUSED},
        tags=["products"],
    ),
)
class ProductView(RecordView):
    required_scopes = {"GET": ApiScope.CATALOG_WRITE, "PUT": ApiScope.CATALOG_WRITE}
    InputSerializer = s.ProductInputSerializer
    OutputSerializer = s.ProductSerializer
    key = "sku"
    not_found = "No product with this SKU."
    select = staticmethod(selectors.product_by_sku)
    upsert = staticmethod(services.upsert_product)


@extend_schema_view(
    put=extend_schema(
        operation_id="products_upsert_batch",
        summary="Create or update many products",
        description=(
            f"Up to {services.MAX_UPSERT_BATCH} products, each with its `sku`, as a JSON list or "
            '`{"products": [...]}`. All or nothing: any invalid item makes a 400 listing the errors per item.'
        ),
        request=s.ProductBatchItemSerializer(many=True),
        responses={200: s.UpsertSummarySerializer, 400: BAD_REQUEST, **REFUSED},
        tags=["products"],
    ),
)
class ProductBatchView(BatchUpsertView):
    required_scopes = {"PUT": ApiScope.CATALOG_WRITE}
    InputSerializer = s.ProductBatchItemSerializer
    items = "products"
    upsert_many = staticmethod(services.upsert_products)
