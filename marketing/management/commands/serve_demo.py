"""python manage.py serve_demo [addrport] — runserver, with the periodic jobs running in the same process.

The demo has no broker and no worker: without this, purchases carrying a campaign's coupon would never be
attributed, scheduled campaigns never launched and waves never released (those are beat's jobs). With a broker
configured it is plain runserver: run `celery beat` and a worker as in production.
"""

from django.core.management.commands.runserver import Command as RunserverCommand

from config.embedded_beat import start_embedded_beat


class Command(RunserverCommand):
    help = "runserver plus the periodic jobs (Celery beat in-process, tasks run eagerly) when no broker is set."

    def inner_run(self, *args, **options):
        # In the process that serves (the autoreloader's child, or the only one with --noreload).
        if start_embedded_beat() is not None:
            self.stdout.write("Periodic jobs (attribution, scheduled launches, waves) run in this process.")
        super().inner_run(*args, **options)
