"""`manage.py setup_demo_campaigns`: the demo's three finished campaigns and its running on-site offer."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from marketing.demo import setup_demo_campaigns


class Command(BaseCommand):
    help = (
        "Create the demo campaigns (idempotent): three finished email campaigns with simulated opens, clicks and "
        "conversions per demo persona, and a running on-site offer. Run after setup_demo."
    )

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=7, help="Seed of the simulated responses (default 7).")

    def handle(self, *args, **options):
        try:
            lines = setup_demo_campaigns(seed=options["seed"])
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        for line in lines:
            self.stdout.write(line)
