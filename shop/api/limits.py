"""Size limits on what the API accepts: the request body, and the free-form `attributes` of customers and
products. Over a limit is a clear 413 or 400 naming the limit, never a 100 MB body parsed or stored."""

import orjson
from django.conf import settings
from rest_framework import exceptions, serializers


class RequestTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "Request body too large."
    default_code = "request_too_large"


def max_body_bytes() -> int:
    return settings.API_MAX_BODY_BYTES


def refuse_large_body(length: int) -> None:
    limit = max_body_bytes()
    if length > limit:
        raise RequestTooLarge(f"The request body is over {limit:,} bytes (API_MAX_BODY_BYTES); send smaller batches.")


def limit_attributes(value: dict) -> None:
    """At most ATTRIBUTES_MAX_KEYS keys and ATTRIBUTES_MAX_BYTES bytes of JSON (nested values included)."""
    max_keys, max_bytes = settings.ATTRIBUTES_MAX_KEYS, settings.ATTRIBUTES_MAX_BYTES
    if len(value) > max_keys:
        raise serializers.ValidationError(f"At most {max_keys} attributes; got {len(value)}.")
    try:
        size = len(orjson.dumps(value))
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise serializers.ValidationError(f"Attributes must be plain JSON: {exc}.") from exc
    if size > max_bytes:
        raise serializers.ValidationError(f"Attributes take at most {max_bytes:,} bytes as JSON; got {size:,}.")
