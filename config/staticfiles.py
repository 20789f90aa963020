"""Static files storage for production: hashed, compressed names from collectstatic's manifest, and plain
names for files the manifest lacks, so a deploy that forgot `collectstatic` shows pages without their
styles (and /health/ready says so) rather than answering every admin page with a 500."""

import logging

from django.core.files.storage import FileSystemStorage
from whitenoise.storage import CompressedManifestStaticFilesStorage

logger = logging.getLogger(__name__)


class ForgivingManifestStaticFilesStorage(CompressedManifestStaticFilesStorage):
    manifest_strict = False
    _reported: set[str] = set()

    def url(self, name, force=False):
        try:
            return super().url(name, force)
        except ValueError:
            # Not in the manifest nor in STATIC_ROOT: collectstatic has not run (or missed this file).
            if name not in self._reported:
                self._reported.add(name)
                logger.warning("static file %s is not collected; run collectstatic", name)
            return FileSystemStorage.url(self, name)

    def manifest_present(self) -> bool:
        return self.exists(self.manifest_name)
