"""API-key authentication: `Authorization: Api-Key <key>` (or `X-Api-Key: <key>`, or HTTP Basic with the key as
user name and an empty password, the way tracking SDKs send a write key).

Keys are looked up through the shared cache (Redis in production), so every web process sees a deactivated,
rotated or deleted key as such as soon as the change is committed: saving or deleting a client drops its
cache entry (see `forget_api_key` and the receivers below).

Each process also remembers the clients it has looked up, tagged with the shared cache's key generation: a
request then costs one small cache read (the generation) instead of reading and unpickling the client, and
any change to any client moves the generation on, so every process forgets what it remembered at once.
"""

import base64
import threading
import time
import uuid

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
GENERATION_KEY = "apikey-generation"
# Clients remembered per process, at most; more (a flood of made-up keys) and the memo starts over.
MEMO_SIZE = 1024

_memo_lock = threading.Lock()
_memo: dict[str, ApiClient | None] = {}
_memo_generation: str | None = None
# When this process last recorded each client's use (so "last used" costs nothing on most requests); forgotten
# with the memo.
_noted_at: dict[int, float] = {}


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


def _generation() -> str:
    """The shared key generation, started afresh if the cache lost it (which also voids every memo)."""
    generation = cache.get(GENERATION_KEY)
    if generation is None:
        cache.add(GENERATION_KEY, uuid.uuid4().hex, None)
        generation = cache.get(GENERATION_KEY)
    return generation


def api_client_for_key(raw_key: str) -> ApiClient | None:
    """The active client owning this key: remembered by this process while the key generation is unchanged,
    else from the shared cache when it was looked up recently, else from the database."""
    global _memo_generation
    key_hash = hash_api_key(raw_key)
    generation = _generation()
    if generation is not None and generation == _memo_generation and key_hash in _memo:
        return _memo[key_hash]
    cache_key = f"apikey:{key_hash}"
    cached = cache.get(cache_key)
    if cached is not None:
        client = cached or None
    else:
        client = ApiClient.objects.filter(key_hash=key_hash, is_active=True).first()
        cache.set(cache_key, client or False, KEY_CACHE_SECONDS)
    if generation is not None:
        with _memo_lock:
            if generation != _memo_generation or len(_memo) >= MEMO_SIZE:
                _memo.clear()
                _noted_at.clear()
                _memo_generation = generation
            _memo[key_hash] = client
    return client


def forget_api_key(key_hash: str) -> None:
    """Drop a key from the shared cache and move the key generation on: the next request in every process
    re-reads the client (deactivated, rotated...)."""
    cache.delete(f"apikey:{key_hash}")
    cache.set(GENERATION_KEY, uuid.uuid4().hex, None)


@receiver(post_save, sender=ApiClient, dispatch_uid="forget_api_key_on_save")
@receiver(post_delete, sender=ApiClient, dispatch_uid="forget_api_key_on_delete")
def _forget_changed_client(sender, instance: ApiClient, **kwargs) -> None:
    # Now, and again once committed: a request between the two may have cached the row as it was.
    key_hash = instance.key_hash
    forget_api_key(key_hash)
    transaction.on_commit(lambda: forget_api_key(key_hash))


def note_api_client_use(client: ApiClient) -> None:
    """Record that the client was used, at most once per LAST_USED_RESOLUTION_SECONDS across processes."""
    now = time.monotonic()
    noted = _noted_at.get(client.pk)
    if noted is not None and now - noted < LAST_USED_RESOLUTION_SECONDS:
        return
    _noted_at[client.pk] = now
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
