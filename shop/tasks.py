"""Celery tasks of the shop: thin wrappers that take ids and call a service."""

from celery import shared_task

from shop.importers.jobs import import_job_run


@shared_task(name="shop.tasks.run_import", acks_late=True)
def run_import(job_id: int) -> str:
    """Run an ImportJob uploaded in admin; the outcome is stored on the job. The imported rows are then counted into
    the daily counts, so the first staff page after a large import does not count them."""
    status = import_job_run(job_id=job_id).status
    refresh_daily_counts.delay()
    return status


@shared_task(name="shop.tasks.refresh_daily_counts")
def refresh_daily_counts(rebuild: bool = False) -> int:
    """Count the interactions and sign-ups added since the last count into the daily counts, or, with `rebuild`,
    count them all afresh (after erasures and edits). Returns the interactions and sign-ups added, or the days
    stored."""
    from shop.counts.services import daily_counts_rebuild, daily_counts_top_up

    return daily_counts_rebuild() if rebuild else daily_counts_top_up()
