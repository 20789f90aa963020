"""Recommendation endpoints.

They are DRF APIViews for the OpenAPI schema, but `dispatch` skips DRF's request wrapping,
content negotiation and serializers: the shop's one key, scope and throttle check
(`shop.api.access.admit`, the same functions DRF views run), then orjson. This is the hot path of the
shop frontend, and DRF's per-request machinery would cost more than the recommendation itself.
"""

from __future__ import annotations

import orjson
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.views import APIView

from recommender.serving import engine, log
from shop.api.access import admit
from shop.models import ApiScope


class BadRequest(Exception):
    def __init__(self, field: str, message: str):
        self.detail = {field: [message]}


def _json(data, status: int = 200, **headers) -> HttpResponse:
    response = HttpResponse(orjson.dumps(data), content_type="application/json", status=status)
    for name, value in headers.items():
        response[name] = value
    return response


def _refusal(exc: exceptions.APIException) -> HttpResponse:
    """The answer DRF's exception handler would give: the detail, and the header the status calls for."""
    headers = {}
    if exc.status_code == 401:
        headers["WWW-Authenticate"] = "Api-Key"
    wait = getattr(exc, "wait", None)
    if wait is not None:
        headers["Retry-After"] = str(int(wait))
    return _json({"detail": str(exc.detail)}, status=exc.status_code, **headers)


class LeanAPIView(APIView):
    """Documented like any DRF view; served by `dispatch` below without DRF's per-request machinery."""

    required_scopes = {"GET": ApiScope.RECOMMENDATIONS_READ.value}

    def dispatch(self, request, *args, **kwargs):
        self.args, self.kwargs, self.request = args, kwargs, request
        if request.method not in ("GET", "HEAD"):
            return _json({"detail": f'Method "{request.method}" not allowed.'}, status=405, Allow="GET")
        try:
            admit(request, scope=self.required_scopes["GET"])
        except exceptions.APIException as exc:
            return _refusal(exc)
        try:
            _refuse_nul(kwargs)
            _refuse_nul(request.GET)
            return _json(self.answer(request.GET, **kwargs))
        except BadRequest as exc:
            return _json(exc.detail, status=400)
        except engine.UnknownProduct as exc:
            return _json({"detail": f"No product with sku {exc.args[0]!r}."}, status=404)
        except engine.UnknownCategory as exc:
            return _json({"category": [f"Unknown category {exc.args[0]!r}."]}, status=400)

    def get(self, request, *args, **kwargs):  # the schema reads this method; dispatch serves it
        return self.dispatch(request, *args, **kwargs)

    def answer(self, params, **kwargs) -> dict:
        raise NotImplementedError


def _refuse_nul(values) -> None:
    """No id or parameter can name anything with a NUL character (none is stored; PostgreSQL cannot compare
    one): a 400 naming it, rather than a database error."""
    for name, value in values.items():
        if "\x00" in value:
            raise BadRequest(name, "Must not contain NUL characters (\\u0000).")


def int_param(params, name: str, *, default: int | None, low: int, high: int) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise BadRequest(name, f"Ensure {name} is an integer from {low} to {high}.")
    return value


def _payload(answer: engine.Answer, *, surface: str, **extra) -> dict:
    recommendation_id = log.new_recommendation_id(answer.run_id, answer.customer_id)
    results = answer.results
    log.record(
        recommendation_id=recommendation_id,
        run_id=answer.run_id,
        customer_id=answer.customer_id,
        surface=surface,
        results=results,
    )
    return {
        **extra,
        "recommendation_id": recommendation_id,
        "model": answer.run_id,
        "strategy": answer.strategy,
        "results": results,
    }


# --- schema -----------------------------------------------------------------------------------------


class RecommendedProductSerializer(serializers.Serializer):
    sku = serializers.CharField()
    name = serializers.CharField()
    score = serializers.FloatField()
    reason = serializers.CharField(help_text='e.g. "because you bought X", "popular in your segment Y", "trending".')
    reason_code = serializers.ChoiceField(
        ["because", "personal", "segment", "trending", "popular", "similar", "bought_together"]
    )


def _answer_schema(name: str, **extra):
    return inline_serializer(
        name,
        {
            **extra,
            "recommendation_id": serializers.CharField(
                help_text="Send it back as `recommendation_id` with the view / cart / purchase events that follow."
            ),
            "model": serializers.IntegerField(allow_null=True, help_text="The training run that served this."),
            "strategy": serializers.CharField(help_text="personal, fold_in, segment, popular, similar, ..."),
            "results": RecommendedProductSerializer(many=True),
        },
    )


Error = inline_serializer("RecommenderError", {"detail": serializers.CharField()})
N_PARAM = OpenApiParameter("n", OpenApiTypes.INT, description="How many products, 1 to 100 (default 10).")
CATEGORY_PARAM = OpenApiParameter("category", OpenApiTypes.STR, description="Only products of this category code.")


class RecommendationsView(LeanAPIView):
    @extend_schema(
        operation_id="recommendations_for_customer",
        summary="Recommendations for a customer",
        description=(
            "Top-n products the customer has not bought, each with a reason. Never inactive, out-of-stock or "
            "non-merchandise products. A customer with no history gets the popular products of their segment, "
            "an unknown customer the popular ones (200, with that reason). Events sent since the model was "
            "trained are taken into account within about a second (RECOMMENDER_REFRESH_SECONDS)."
        ),
        parameters=[
            N_PARAM,
            CATEGORY_PARAM,
            OpenApiParameter("exclude", OpenApiTypes.STR, description="Comma-separated skus to leave out."),
            OpenApiParameter(
                "max_per_category", OpenApiTypes.INT, description="At most this many products per category."
            ),
        ],
        responses={200: _answer_schema("Recommendations", customer=serializers.CharField()), 400: None, 401: Error},
        tags=["recommendations"],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def answer(self, params, *, external_id: str) -> dict:
        n = int_param(params, "n", default=10, low=1, high=100)
        max_per_category = int_param(params, "max_per_category", default=None, low=1, high=100)
        exclude = tuple(s for s in (part.strip() for part in params.get("exclude", "").split(",")) if s)
        answer = engine.recommend(
            external_id=external_id,
            n=n,
            category=params.get("category") or None,
            exclude=exclude,
            max_per_category=max_per_category,
        )
        return _payload(answer, surface="recommendations", customer=external_id)


class SimilarProductsView(LeanAPIView):
    @extend_schema(
        operation_id="similar_products",
        summary="Products similar to this one",
        parameters=[N_PARAM],
        responses={200: _answer_schema("SimilarProducts", product=serializers.CharField()), 404: Error},
        tags=["recommendations"],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def answer(self, params, *, sku: str) -> dict:
        n = int_param(params, "n", default=10, low=1, high=100)
        return _payload(engine.similar(sku=sku, n=n), surface="similar", product=sku)


class BoughtTogetherView(LeanAPIView):
    @extend_schema(
        operation_id="bought_together_products",
        summary="Products often bought together with this one",
        parameters=[N_PARAM],
        responses={200: _answer_schema("BoughtTogether", product=serializers.CharField()), 404: Error},
        tags=["recommendations"],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def answer(self, params, *, sku: str) -> dict:
        n = int_param(params, "n", default=10, low=1, high=100)
        return _payload(engine.bought_together(sku=sku, n=n), surface="bought_together", product=sku)


class PopularProductsView(LeanAPIView):
    @extend_schema(
        operation_id="popular_products",
        summary="Popular products, all time or trending over the last days",
        parameters=[
            N_PARAM,
            CATEGORY_PARAM,
            OpenApiParameter(
                "days",
                OpenApiTypes.INT,
                description=(
                    "Only events of the last days (1 to 3650), counted back from the newest event rather than "
                    "from now, so data that ends in the past still has a recent window."
                ),
            ),
        ],
        responses={200: _answer_schema("PopularProducts"), 400: None},
        tags=["recommendations"],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def answer(self, params) -> dict:
        n = int_param(params, "n", default=10, low=1, high=100)
        days = int_param(params, "days", default=None, low=1, high=3650)
        answer = engine.popular(n=n, category=params.get("category") or None, days=days)
        return _payload(answer, surface="popular")
