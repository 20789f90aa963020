"""`python manage.py list_campaigns [--json]`: every campaign with its status, channel, recipients and sends."""

import json

from django.core.management.base import BaseCommand

from marketing.selectors import campaign_list_rows


class Command(BaseCommand):
    help = (
        "List campaigns, newest first: id, name, status, channel, recipients (treated and control, not those "
        "left out) and messages sent. --json prints "
        '[{"id", "name", "status", "channel", "recipients", "sent"}].'
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print one JSON list on stdout.")

    def handle(self, *args, json: bool = False, **options):
        rows = campaign_list_rows()
        if json:
            self.stdout.write(_dumps(rows))
            return
        if not rows:
            self.stdout.write("No campaigns.")
            return
        width = max(len(r["name"]) for r in rows)
        self.stdout.write(f"{'id':>5}  {'name':<{width}}  {'status':<10} {'channel':<7} {'recipients':>10} {'sent':>8}")
        for r in rows:
            self.stdout.write(
                f"{r['id']:>5}  {r['name']:<{width}}  {r['status']:<10} {r['channel']:<7} "
                f"{r['recipients']:>10,} {r['sent']:>8,}"
            )


def _dumps(rows) -> str:
    return json.dumps(rows)
