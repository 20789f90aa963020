"""Count the interactions and sign-ups added since the last count into the daily counts the staff pages read."""

import json

from django.core.management.base import BaseCommand

from shop.counts.services import daily_counts_rebuild, daily_counts_top_up


class Command(BaseCommand):
    help = (
        "Top up the daily counts of interactions and sign-ups with the rows added since the last count, or count "
        "everything afresh with --rebuild (after erasures or edits of past rows)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--rebuild", action="store_true", help="Count every row afresh instead of the new ones.")
        parser.add_argument("--json", action="store_true", dest="as_json", help="Print one JSON document.")

    def handle(self, *args, rebuild: bool, as_json: bool, **options):
        if rebuild:
            result = {"rebuilt": True, "days": daily_counts_rebuild()}
            text = f"Counted every interaction and sign-up afresh: {result['days']} days."
        else:
            result = {"rebuilt": False, "added": daily_counts_top_up()}
            text = f"Counted {result['added']} new interactions and sign-ups."
        self.stdout.write(json.dumps(result) if as_json else text)
