"""/api/v1/sources/...: Segment / RudderStack SDKs post to `<host>/v1/<call>`, shops' webhooks to their kind."""

from django.urls import path

from shop.sources import views

SEGMENT_CALLS = ("batch", "track", "identify", "page", "screen", "group", "alias")

urlpatterns = [
    *(
        path(f"segment/v1/{call}", views.SegmentView.as_view(call=call), name=f"sources-segment-{call}")
        for call in SEGMENT_CALLS
    ),
    path("shopify", views.ShopifyView.as_view(), name="sources-shopify"),
    path("woocommerce", views.WooCommerceView.as_view(), name="sources-woocommerce"),
]
