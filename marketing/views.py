"""Tracking endpoints customers reach from their messages: open pixel, click redirect, unsubscribe.

Each reads a signed token (marketing.tracking); a token that was tampered with or made elsewhere gets a 400, and
a click only redirects to the product page or the address signed into its token.
"""

from __future__ import annotations

import base64

from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseNotFound,
    HttpResponseRedirect,
)
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from marketing import tracking
from marketing.models import Campaign

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


@never_cache
@require_http_methods(["GET", "HEAD"])
def open_pixel(request: HttpRequest, token: str) -> HttpResponse:
    try:
        key = tracking.read_open_token(token)
    except tracking.BadToken:
        return HttpResponseBadRequest("Invalid tracking token.", content_type="text/plain")
    tracking.record_open(key=key)
    return HttpResponse(PIXEL, content_type="image/gif")


class _Redirect(HttpResponseRedirect):
    allowed_schemes = ["http", "https"]


@never_cache
@require_http_methods(["GET", "HEAD"])
def click(request: HttpRequest, token: str) -> HttpResponse:
    try:
        key, target = tracking.read_click_token(token)
    except tracking.BadToken:
        return HttpResponseBadRequest("Invalid link.", content_type="text/plain")
    destination = tracking.follow_click(key=key, target=target)
    if destination is None:
        return HttpResponseNotFound("This product is no longer available.", content_type="text/plain")
    return _Redirect(destination)


@csrf_exempt  # RFC 8058 one-click: mail providers POST here without a session; the signed token is the proof
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a confirmation button (link scanners must not unsubscribe anyone); POST unsubscribes at once."""
    try:
        key = tracking.read_unsubscribe_token(token)
    except tracking.BadToken:
        return HttpResponseBadRequest("Invalid unsubscribe link.", content_type="text/plain")
    channel = Campaign.objects.filter(pk=key.campaign_id).values_list("channel", flat=True).first()
    label = Campaign.Channel(channel).label if channel else "messages"
    if request.method == "POST":
        tracking.unsubscribe(key=key)
        return render(request, "marketing/unsubscribed.html", {"channel": label})
    return render(request, "marketing/unsubscribe.html", {"channel": label})
