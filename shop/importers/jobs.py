"""Imports started from admin: an ImportJob row queues a task that runs the same importer as the command."""

from __future__ import annotations

import logging
import shutil
import tempfile
import zipfile
from pathlib import Path

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from shop.importers.common import ImportReport
from shop.importers.csv_files import import_csv
from shop.importers.movielens import ML_1M, ML_100K, import_movielens
from shop.importers.online_retail import import_online_retail
from shop.models import ImportJob

logger = logging.getLogger(__name__)

# What each kind accepts from an upload.
ACCEPTED_SUFFIXES = {
    ImportJob.Kind.MOVIELENS: (".zip",),
    ImportJob.Kind.ONLINE_RETAIL: (".csv", ".csv.gz", ".xlsx"),
    ImportJob.Kind.CUSTOMERS: (".csv", ".csv.gz"),
    ImportJob.Kind.PRODUCTS: (".csv", ".csv.gz"),
    ImportJob.Kind.INTERACTIONS: (".csv", ".csv.gz"),
}
# A zip bomb guard for MovieLens uploads (ml-1m unpacks to about 25 MB).
MAX_UNZIPPED_BYTES = 2 * 1024**3


def validate_upload_name(*, kind: str, name: str) -> None:
    accepted = ACCEPTED_SUFFIXES[ImportJob.Kind(kind)]
    if not name.lower().endswith(accepted):
        raise ValidationError(f"A {ImportJob.Kind(kind).label} upload must be a {' or '.join(accepted)} file.")


def import_job_queue(*, job: ImportJob, user: AbstractBaseUser | None = None) -> ImportJob:
    """Save a new import job and run it once the upload is committed (on a worker, or eagerly in-process)."""
    from shop.tasks import run_import

    validate_upload_name(kind=job.kind, name=job.file.name)
    job.status = ImportJob.Status.QUEUED
    if user is not None and user.is_authenticated:
        job.created_by = user
    job.save()
    transaction.on_commit(lambda: run_import.delay(job.pk))
    return job


def import_job_run(*, job_id: int) -> ImportJob:
    """Run a queued job: its status, counts and summary end up on the row, whether the import works or fails.

    The task is acks_late, so the broker may deliver it again (a worker lost, a visibility timeout): only a QUEUED
    job is claimed, in one conditional UPDATE, so a second delivery neither re-imports nor overwrites the summary.
    """
    now = timezone.now()
    claimed = ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.QUEUED).update(
        status=ImportJob.Status.RUNNING, started_at=now, error="", updated_at=now
    )
    job = ImportJob.objects.get(pk=job_id)
    if not claimed:
        logger.warning("import job %s is %s, not queued: delivered again, not run again", job.pk, job.status)
        return job
    try:
        with tempfile.TemporaryDirectory(prefix="import-") as workdir:
            report = _run_importer(job, Path(workdir))
    except ValidationError as error:
        _finish(job, status=ImportJob.Status.FAILED, error="; ".join(error.messages))
    except Exception as error:
        logger.exception("import job %s failed", job.pk)
        _finish(job, status=ImportJob.Status.FAILED, error=f"{type(error).__name__}: {error}")
    else:
        job.rows_read = report.rows_read
        job.rows_imported = report.imported
        job.summary = report.as_dict()
        _finish(job, status=ImportJob.Status.SUCCEEDED)
    return job


def _finish(job: ImportJob, *, status: str, error: str = "") -> None:
    job.status = status
    job.error = error
    job.finished_at = timezone.now()
    job.save()


def _run_importer(job: ImportJob, workdir: Path) -> ImportReport:
    """Copy the upload to a local file (storage may be remote), unpack MovieLens zips, run the importer."""
    validate_upload_name(kind=job.kind, name=job.file.name)
    name = Path(job.file.name).name
    local = workdir / name
    with job.file.open("rb") as source, local.open("wb") as target:
        shutil.copyfileobj(source, target)
    if job.kind == ImportJob.Kind.MOVIELENS:
        return import_movielens(directory=_unpack_movielens(local, workdir / "unpacked"))
    if job.kind == ImportJob.Kind.ONLINE_RETAIL:
        return import_online_retail(path=local)
    return import_csv(kind=job.kind, path=local)


def _unpack_movielens(archive: Path, target: Path) -> Path:
    try:
        with zipfile.ZipFile(archive) as bundle:
            if sum(member.file_size for member in bundle.infolist()) > MAX_UNZIPPED_BYTES:
                raise ValidationError("The zip unpacks to more than 2 GB; not a MovieLens directory.")
            bundle.extractall(target)  # zipfile strips absolute paths and ".." from member names
    except zipfile.BadZipFile as error:
        raise ValidationError(f"{archive.name} is not a zip file") from error
    markers = {ML_100K.ratings[0], ML_1M.ratings[0]}
    for found in sorted(target.rglob("*")):
        if found.name in markers:
            return found.parent
    raise ValidationError(
        f"{archive.name} holds no MovieLens directory: expected u.data, u.item, u.user (ml-100k) "
        "or ratings.dat, movies.dat, users.dat (ml-1m)"
    )
