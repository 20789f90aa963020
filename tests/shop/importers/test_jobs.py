"""The admin upload: saving an ImportJob queues shop.tasks.run_import, which runs the importer (eager Celery)."""

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from shop.models import Customer, ImportJob, Interaction
from shop.tasks import run_import

from .conftest import RETAIL_HEADER, RETAIL_ROWS, write_csv

pytestmark = pytest.mark.django_db


def upload(admin_client, django_capture_on_commit_callbacks, *, kind: str, name: str, content: bytes):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:shop_importjob_add"),
            {"kind": kind, "file": SimpleUploadedFile(name, content)},
        )
    return response


def test_uploading_an_online_retail_file_runs_the_import_and_stores_the_summary(
    admin_client, admin_user, django_capture_on_commit_callbacks, tmp_path
):
    content = write_csv(tmp_path / "retail.csv", RETAIL_HEADER, RETAIL_ROWS).read_bytes()

    response = upload(admin_client, django_capture_on_commit_callbacks, kind="online_retail", name="retail.csv",
                      content=content)  # fmt: skip

    assert response.status_code == 302
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.SUCCEEDED, job.error
    assert (job.rows_read, job.rows_imported) == (len(RETAIL_ROWS), 6)
    assert job.summary["skipped_by_reason"]["no_customer"] == 1
    assert job.created_by == admin_user
    assert job.started_at and job.finished_at
    assert Interaction.objects.count() == 6
    # The job's page shows what happened.
    page = admin_client.get(reverse("admin:shop_importjob_change", args=[job.pk]))
    assert b"no customer: 1" in page.content
    listing = admin_client.get(reverse("admin:shop_importjob_changelist"), {"status": "succeeded"})
    assert listing.status_code == 200
    assert b"Online Retail file" in listing.content


def test_a_movielens_zip_is_unpacked_and_imported(admin_client, django_capture_on_commit_callbacks):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("ml-100k/u.user", "1|24|M|technician|85711\n")
        bundle.writestr("ml-100k/u.item", "1|Toy Story (1995)|01-Jan-1995|||" + "|".join(["0"] * 18 + ["1"]) + "\n")
        bundle.writestr("ml-100k/u.data", "1\t1\t5\t874965758\n")

    upload(admin_client, django_capture_on_commit_callbacks, kind="movielens", name="ml-100k.zip",
           content=archive.getvalue())  # fmt: skip

    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.SUCCEEDED, job.error
    assert Customer.objects.filter(external_id="ml100k-1").exists()


def test_a_file_of_the_wrong_format_fails_the_job_with_the_reason(admin_client, django_capture_on_commit_callbacks):
    upload(admin_client, django_capture_on_commit_callbacks, kind="online_retail", name="orders.csv",
           content=b"order,total\n1,2\n")  # fmt: skip

    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.FAILED
    assert "InvoiceNo" in job.error
    assert not Interaction.objects.exists()


def test_the_form_refuses_a_file_the_kind_cannot_read(admin_client):
    response = admin_client.post(
        reverse("admin:shop_importjob_add"),
        {"kind": "movielens", "file": SimpleUploadedFile("u.data", b"1\t1\t5\t1\n")},
    )

    assert response.status_code == 200
    assert b"must be a .zip file" in response.content
    assert not ImportJob.objects.exists()


def test_a_redelivered_task_does_not_run_a_finished_job_again(
    admin_client, django_capture_on_commit_callbacks, tmp_path, caplog
):
    content = write_csv(tmp_path / "retail.csv", RETAIL_HEADER, RETAIL_ROWS).read_bytes()
    upload(admin_client, django_capture_on_commit_callbacks, kind="online_retail", name="retail.csv",
           content=content)  # fmt: skip
    job = ImportJob.objects.get()
    summary, finished_at = job.summary, job.finished_at

    # acks_late: the broker hands the same message to a worker a second time.
    assert run_import.delay(job.pk).get() == ImportJob.Status.SUCCEEDED

    job.refresh_from_db()
    assert job.summary == summary and job.summary["imported"] == 6
    assert (job.rows_imported, job.finished_at) == (6, finished_at)
    assert f"import job {job.pk} is succeeded, not queued" in caplog.text


def test_a_job_already_running_is_left_to_the_worker_running_it():
    job = ImportJob.objects.create(
        kind=ImportJob.Kind.ONLINE_RETAIL, status=ImportJob.Status.RUNNING, file="imports/retail.csv"
    )

    assert run_import(job.pk) == ImportJob.Status.RUNNING

    job.refresh_from_db()
    assert (job.status, job.error, job.finished_at) == (ImportJob.Status.RUNNING, "", None)
