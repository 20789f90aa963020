"""HTTP doors for the sources: Segment's tracking API, Shopify's and WooCommerce's webhooks. Views only translate
HTTP; the work is in shop.sources.segment / shopify / woocommerce."""

from __future__ import annotations

import zlib

import orjson
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import ParseError
from rest_framework.response import Response
from rest_framework.views import APIView

from shop.api.fastjson import ORJSONParser, ORJSONRenderer
from shop.api.limits import RequestTooLarge, max_body_bytes, refuse_large_body
from shop.models import ApiClient, ApiScope
from shop.sources import segment, webhooks
from shop.sources.services import segment_source_for_client


def decompressed(body: bytes, encoding: str) -> bytes:
    """The body as sent before `Content-Encoding: gzip` (or deflate); at most API_MAX_BODY_BYTES once inflated."""
    encoding = encoding.strip().lower()
    if not encoding or encoding == "identity":
        return body
    if encoding not in ("gzip", "deflate"):
        raise ParseError(f"Content-Encoding {encoding!r} is not supported; send gzip or none.")
    limit = max_body_bytes()
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header, detected
    try:
        inflated = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise ParseError(f"The body is not valid {encoding}: {exc}.") from exc
    if len(inflated) > limit or inflater.unconsumed_tail:
        raise RequestTooLarge(f"The body inflates to over {limit:,} bytes (API_MAX_BODY_BYTES); send smaller batches.")
    if not inflater.eof:
        raise ParseError(f"The {encoding} body is cut short: it ends before its compressed stream does.")
    return inflated


class TrackingParser(ORJSONParser):
    """JSON, gzip-compressed or not, as the tracking SDKs send it."""

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        meta = request.META if request is not None else {}
        declared = meta.get("CONTENT_LENGTH")
        if declared and declared.isdigit():
            refuse_large_body(int(declared))
        body = stream.read(max_body_bytes() + 1) if stream is not None else b""
        refuse_large_body(len(body))
        body = decompressed(body, meta.get("HTTP_CONTENT_ENCODING", ""))
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc


class SegmentView(APIView):
    """POST /api/v1/sources/segment/v1/<call>: Segment's HTTP tracking API (batch, track, identify, page, alias...).

    Authenticated as the SDKs do it: HTTP Basic with the write key (an API key with `events:write`) as user
    name and an empty password. Answers 200 {"success": true} once stored; errors carry `code` and `message`
    as the SDKs read them (they retry on 5xx and 429).
    """

    parser_classes = [TrackingParser]
    renderer_classes = [ORJSONRenderer]
    required_scopes = {"POST": ApiScope.EVENTS_WRITE}
    call: str = "batch"

    @extend_schema(
        summary="Segment / RudderStack tracking call",
        description=(
            "The HTTP tracking API of Segment's and RudderStack's SDKs: point an SDK at "
            "`host=<server>/api/v1/sources/segment` with an API key (scope `events:write`) as write key. "
            '`/v1/batch` takes `{"batch": [...]}`; `/v1/track`, `/v1/identify`, `/v1/page`, `/v1/screen`, '
            "`/v1/group` and `/v1/alias` one message. Gzip bodies are accepted. E-commerce spec v2 events become "
            "interactions; other events are accepted and counted."
        ),
        request=dict,
        responses={
            200: OpenApiResponse(description='{"success": true}'),
            400: OpenApiResponse(description="Not JSON (or not gzip when it says so), or not a batch."),
            401: OpenApiResponse(description="No or a bad write key."),
            403: OpenApiResponse(description="The key lacks the events:write scope, or a non-staff session."),
            413: OpenApiResponse(description="The body, or the body once inflated, is over API_MAX_BODY_BYTES."),
            429: OpenApiResponse(description="Over the key's rate; retry after Retry-After."),
        },
        tags=["sources"],
    )
    def post(self, request):
        client = request.auth if isinstance(request.auth, ApiClient) else None
        if client is None:
            raise ParseError("Send the write key (an API key) as HTTP Basic user name; staff sessions have no source.")
        data = request.data
        if self.call == "batch":
            messages = data.get("batch") if isinstance(data, dict) else None
            if not isinstance(messages, list):
                raise ParseError('Send {"batch": [messages...]}.')
        else:
            if not isinstance(data, dict):
                raise ParseError("Send one message as a JSON object.")
            messages = [{"type": self.call, **data}]
        source = segment_source_for_client(client=client)
        segment.record_segment_batch(messages=messages, source=source, client=client)
        return Response({"success": True})

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        # The SDKs read `code` and `message` from an error body.
        if isinstance(response.data, dict) and "detail" in response.data:
            detail = response.data["detail"]
            response.data = {
                "success": False,
                "code": getattr(detail, "code", "error"),
                "message": str(detail),
                "detail": detail,
            }
        return response


class WebhookView(APIView):
    """A webhook delivery: authenticated by its HMAC signature only (the shop knows no API key)."""

    authentication_classes: list = []
    permission_classes: list = []
    throttle_classes: list = []
    renderer_classes = [ORJSONRenderer]
    kind: str

    def post(self, request):
        body = request.body  # raw bytes: the signature covers them exactly, so nothing is parsed before it is checked
        refuse_large_body(len(body))
        outcome = webhooks.receive(kind=self.kind, body=body, headers=request.headers)
        return Response(outcome.body, status=outcome.status)


class ShopifyView(WebhookView):
    kind = "shopify"

    @extend_schema(
        operation_id="sources_shopify",
        summary="Shopify webhook",
        description=(
            "Topics orders/create, orders/paid, refunds/create, products/create, products/update, customers/create, "
            "customers/update and the privacy topics customers/data_request, customers/redact, shop/redact. "
            "Signed with X-Shopify-Hmac-Sha256 (base64 HMAC-SHA256 of the body with the source's secret); "
            "X-Shopify-Webhook-Id makes redelivery idempotent. 401 on a bad signature, nothing stored."
        ),
        request=dict,
        responses={200: dict, 401: OpenApiResponse(description="Bad or missing signature.")},
        tags=["sources"],
    )
    def post(self, request):
        return super().post(request)


class WooCommerceView(WebhookView):
    kind = "woocommerce"

    @extend_schema(
        operation_id="sources_woocommerce",
        summary="WooCommerce webhook",
        description=(
            "Topics order.created, order.updated (completed: purchases; refunded: returns), product.created, "
            "product.updated, customer.created. Signed with X-WC-Webhook-Signature (base64 HMAC-SHA256 of the body "
            "with the webhook's secret); X-WC-Webhook-Delivery-ID makes redelivery idempotent."
        ),
        request=dict,
        responses={200: dict, 401: OpenApiResponse(description="Bad or missing signature.")},
        tags=["sources"],
    )
    def post(self, request):
        return super().post(request)
