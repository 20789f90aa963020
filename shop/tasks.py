"""Celery tasks of the shop: thin wrappers that take ids and call a service."""

from celery import shared_task

from shop.importers.jobs import import_job_run


@shared_task(name="shop.tasks.run_import", acks_late=True)
def run_import(job_id: int) -> str:
    """Run an ImportJob uploaded in admin; the outcome is stored on the job."""
    return import_job_run(job_id=job_id).status
