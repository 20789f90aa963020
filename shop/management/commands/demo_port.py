"""`manage.py demo_port --start 8000`: print the first free local port from START (make demo serves there)."""

from django.core.management.base import BaseCommand, CommandError

from shop.demo.setup import free_port


class Command(BaseCommand):
    help = "Print the first port on 127.0.0.1 from --start that nothing listens on (what make demo serves on)."

    def add_arguments(self, parser):
        parser.add_argument("--start", type=int, default=8000, help="First port to try (default 8000).")

    def handle(self, *args, start: int, **options):
        if not 1 <= start <= 65535:
            raise CommandError(f"--start must be a port between 1 and 65535, not {start}")
        try:
            self.stdout.write(str(free_port(start=start)))
        except OSError as exc:
            raise CommandError(str(exc)) from exc
