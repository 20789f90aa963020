"""`GET /api/v1/categories`: the category codes and names, so a shop (or a marketer) need not guess the codes."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from shop import selectors
from shop.models import ApiScope


class CategorySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="What `category` parameters take (a name is accepted too).")
    name = serializers.CharField()
    parent = serializers.CharField(allow_null=True, help_text="The parent category's code.")
    products = serializers.IntegerField(help_text="Active merchandise in this category.")


class CategoryListView(APIView):
    # The codes the recommendation endpoints' `category` filter takes: read with the same scope (browser keys too).
    required_scopes = {"GET": ApiScope.RECOMMENDATIONS_READ.value}

    @extend_schema(
        operation_id="categories_list",
        summary="List the categories",
        description="Every category with its code, name, parent and number of active products, by name.",
        responses={200: inline_serializer("Categories", {"categories": CategorySerializer(many=True)})},
        tags=["products"],
    )
    def get(self, request):
        return Response({"categories": selectors.categories_with_counts()})
