"""API-key authentication: `Authorization: Api-Key <key>` (or `X-Api-Key: <key>`, or HTTP Basic with the key as
user name and an empty password, the way tracking SDKs send a write key).

Keys are looked up through the shared cache (Redis in production), so every web process sees a deactivated,
rotated or deleted key as such as soon as the change is committed: saving or deleting a client drops its
cache entry (see `forget_api_key` and the receivers below).
"""

import base64

from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone
from rest_framework import authentication, exceptions

from shop.api.permissions import check_browser_origin
from shop.models import ApiClient, hash_api_key

KEY_CACHE_SECONDS = 300
# "Last used" is written at most this often per client, so requests do not all queue for a write.
LAST_USED_RESOLUTION_SECONDS = 60
KEYWORD = "Api-Key"


def raw_key_from_headers(meta) -> str | None:
    """The key sent with a request (`X-Api-Key`, or `Authorization: Api-Key <key>`); "" when the request
    names the scheme with no key, None when it sends no API key at all (another scheme, or nothing)."""
    raw_key = meta.get("HTTP_X_API_KEY", "")
    if raw_key:
        return raw_key
    header = meta.get("HTTP_AUTHORIZATION", "")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic":
        return _key_from_basic(value.strip())
    if scheme.lower() != KEYWORD.lower():
        return None
    return value.strip()


def _key_from_basic(credentials: str) -> str | None:
    """HTTP Basic with the key as user name and an empty password, as Segment's and RudderStack's SDKs send
    their write key. A non-empty password is someone else's scheme (not an API key): None."""
    try:
        decoded = base64.b64decode(credentials, validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return ""
    user, _, password = decoded.partition(":")
    if password:
        return None
    return user


def api_client_for_key(raw_key: str) -> ApiClient | None:
    """The active client owning this key, from the shared cache when it was looked up recently."""
    key_hash = hash_api_key(raw_key)
    cache_key = f"apikey:{key_hash}"
    cached = cache.get(cache_key)
    if cached is not None:
        return cached or None
    client = ApiClient.objects.filter(key_hash=key_hash, is_active=True).first()
    cache.set(cache_key, client or False, KEY_CACHE_SECONDS)
    return client


def forget_api_key(key_hash: str) -> None:
    """Drop a key from the shared cache: the next request re-reads the client (deactivated, rotated...)."""
    cache.delete(f"apikey:{key_hash}")


@receiver(post_save, sender=ApiClient, dispatch_uid="forget_api_key_on_save")
@receiver(post_delete, sender=ApiClient, dispatch_uid="forget_api_key_on_delete")
def _forget_changed_client(sender, instance: ApiClient, **kwargs) -> None:
    # Now, and again once committed: a request between the two may have cached the row as it was.
    key_hash = instance.key_hash
    forget_api_key(key_hash)
    transaction.on_commit(lambda: forget_api_key(key_hash))


def note_api_client_use(client: ApiClient) -> None:
    if cache.add(f"apikey-used:{client.pk}", True, LAST_USED_RESOLUTION_SECONDS):
        ApiClient.objects.filter(pk=client.pk).update(last_used_at=timezone.now())


def authenticate_api_key(meta) -> ApiClient | None:
    """The client whose key the request carries; None without a key; AuthenticationFailed for a bad one."""
    raw_key = raw_key_from_headers(meta)
    if raw_key is None:
        return None
    client = api_client_for_key(raw_key) if raw_key else None
    if client is None:
        raise exceptions.AuthenticationFailed("Invalid or inactive API key.")
    check_browser_origin(client, meta)
    note_api_client_use(client)
    return client


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = KEYWORD

    def authenticate(self, request):
        client = authenticate_api_key(request.META)
        if client is None:
            return None
        return (AnonymousUser(), client)

    def authenticate_header(self, request):
        return self.keyword
