"""Where files go: local MEDIA_ROOT by default, an S3-compatible bucket when DJANGO_STORAGE_BUCKET is set."""

import json

from tests.test_settings_production import production_env, run

SHOW_STORAGE = (
    "import json, django; django.setup(); from django.core.files.storage import storages; s = storages['default']; "
    "print(json.dumps([type(s).__module__ + '.' + type(s).__name__, getattr(s, 'bucket_name', None), "
    "getattr(s, 'endpoint_url', None), getattr(s, 'location', None), getattr(s, 'file_overwrite', None)]))"
)


def test_files_are_local_by_default(tmp_path):
    result = run(SHOW_STORAGE, production_env(tmp_path))

    backend, *_ = json.loads(result.stdout)
    assert backend == "django.core.files.storage.filesystem.FileSystemStorage", result.stderr


def test_a_bucket_moves_files_to_s3_compatible_storage_without_overwrites(tmp_path):
    env = production_env(
        tmp_path,
        DJANGO_STORAGE_BUCKET="shop-models",
        DJANGO_STORAGE_ENDPOINT_URL="http://minio.internal:9000",
        DJANGO_STORAGE_PREFIX="prod",
    )

    result = run(SHOW_STORAGE, env)

    assert json.loads(result.stdout) == [
        "storages.backends.s3.S3Storage",
        "shop-models",
        "http://minio.internal:9000",
        "prod",
        False,
    ], result.stderr
