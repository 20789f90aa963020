"""Shapes of the on-site offers answer, for the OpenAPI schema (the view itself writes orjson)."""

from rest_framework import serializers


class OnsiteOfferTermsSerializer(serializers.Serializer):
    name = serializers.CharField()
    kind = serializers.ChoiceField(["percent", "fixed", "free_shipping", "bundle"])
    value = serializers.CharField(help_text="Percent off, amount off or the bundle's price, as a decimal string.")
    currency = serializers.CharField()
    min_basket = serializers.CharField(allow_null=True)
    valid_from = serializers.DateTimeField(allow_null=True)
    valid_until = serializers.DateTimeField(allow_null=True)
    bundle_skus = serializers.ListField(child=serializers.CharField(), help_text="The bundle's products.")


class OnsiteProductSerializer(serializers.Serializer):
    sku = serializers.CharField()
    name = serializers.CharField()
    price = serializers.CharField(allow_null=True)
    currency = serializers.CharField()
    image = serializers.CharField(allow_null=True)
    link = serializers.CharField(allow_null=True)


class OnsiteOfferSerializer(serializers.Serializer):
    campaign = serializers.IntegerField()
    campaign_name = serializers.CharField()
    variant = serializers.CharField()
    headline = serializers.CharField(help_text="The variant's subject, rendered for this customer.")
    html = serializers.CharField()
    text = serializers.CharField()
    coupon = serializers.CharField(allow_null=True, help_text="Send it back as `coupon` with the purchase events.")
    offer = OnsiteOfferTermsSerializer(allow_null=True)
    recommendation_id = serializers.CharField(
        allow_null=True, help_text="Send it back as `recommendation_id` with the events that follow."
    )
    products = OnsiteProductSerializer(many=True)
    ends_at = serializers.DateTimeField(allow_null=True)


class CustomerOffersSerializer(serializers.Serializer):
    customer = serializers.CharField()
    offers = OnsiteOfferSerializer(many=True)
