"""Deployment checks (`manage.py check --deploy`) for what must agree across web and worker processes."""

from django.conf import settings
from django.core.checks import Tags, Warning, register

PER_PROCESS_CACHES = ("django.core.cache.backends.locmem.LocMemCache", "django.core.cache.backends.dummy.DummyCache")


@register(Tags.caches, deploy=True)
def shared_cache(app_configs, **kwargs):
    """API keys, revocations, throttle counters and served lists are cached: one process's cache is not another's."""
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    if backend in PER_PROCESS_CACHES:
        return [
            Warning(
                f"The default cache ({backend.rsplit('.', 1)[-1]}) lives in each process: a revoked API key, a "
                "throttle counter or a model switch seen by one web or worker process is not seen by the others.",
                hint="Set REDIS_URL to the shared Redis (redis://host:6379/0) before running more than one process.",
                id="shop.W001",
            )
        ]
    return []
