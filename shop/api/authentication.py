"""API-key authentication: `Authorization: Api-Key <key>` (or `X-Api-Key: <key>`)."""

from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.utils import timezone
from rest_framework import authentication, exceptions

from shop.models import ApiClient, hash_api_key

KEY_CACHE_SECONDS = 60
# "Last used" is written at most this often per client, so requests do not all queue for a write.
LAST_USED_RESOLUTION_SECONDS = 60


def api_client_for_key(raw_key: str) -> ApiClient | None:
    """The active client owning this key; looked up once a minute per key, not per request."""
    key_hash = hash_api_key(raw_key)
    cache_key = f"apikey:{key_hash}"
    cached = cache.get(cache_key)
    if cached is not None:
        return cached or None
    client = ApiClient.objects.filter(key_hash=key_hash, is_active=True).first()
    cache.set(cache_key, client or False, KEY_CACHE_SECONDS)
    return client


def forget_api_key(key_hash: str) -> None:
    """Drop a key from the cache (after deactivation or rotation). With the default per-process memory
    cache other worker processes may still accept it for up to KEY_CACHE_SECONDS; a shared cache (REDIS_URL)
    makes it immediate everywhere."""
    cache.delete(f"apikey:{key_hash}")


def note_api_client_use(client: ApiClient) -> None:
    if cache.add(f"apikey-used:{client.pk}", True, LAST_USED_RESOLUTION_SECONDS):
        ApiClient.objects.filter(pk=client.pk).update(last_used_at=timezone.now())


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Api-Key"

    def authenticate(self, request):
        raw_key = request.headers.get("X-Api-Key", "")
        header = request.headers.get("Authorization", "")
        if not raw_key and header:
            scheme, _, value = header.partition(" ")
            if scheme.lower() != self.keyword.lower():
                return None
            raw_key = value.strip()
        if not raw_key:
            return None
        client = api_client_for_key(raw_key)
        if client is None:
            raise exceptions.AuthenticationFailed("Invalid or inactive API key.")
        note_api_client_use(client)
        return (AnonymousUser(), client)

    def authenticate_header(self, request):
        return self.keyword
