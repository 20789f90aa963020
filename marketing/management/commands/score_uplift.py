"""python manage.py score_uplift CAMPAIGN FILE --out FILE [--json]

Scores the customers of a CSV file (the same attribute columns the campaign was imported with) by the campaign's
latest uplift model: the output has every input column plus predicted_uplift and uplift_rank, most persuadable
first, so the next campaign can go to the top of the list.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from marketing.models import Campaign
from marketing.reports import campaign_by_reference
from marketing.uplift_models import score_file


class Command(BaseCommand):
    help = "Score a file's customers by a campaign's uplift model (most persuadable first)."

    def add_arguments(self, parser):
        parser.add_argument("campaign", help="The campaign's name or id (its latest uplift model is used).")
        parser.add_argument("file", type=Path, help="CSV (or .csv.gz) with the model's attribute columns.")
        parser.add_argument("--out", type=Path, required=True, help="Where to write the scored CSV.")
        parser.add_argument("--json", action="store_true", help="Print only the JSON summary on stdout.")

    def handle(self, *args, **options):
        try:
            campaign = campaign_by_reference(options["campaign"])
            summary = score_file(campaign=campaign, path=options["file"], out=options["out"])
        except Campaign.DoesNotExist as exc:
            raise CommandError(str(exc)) from exc
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(summary))
            return
        self.stdout.write(f"Scored {summary['scored']} customers with model {summary['model']} ({summary['learner']}).")
        for key, estimate in summary["targeting"].items():
            self.stdout.write(
                f"  {key.replace('_', ' ')} %: {estimate['targeted']} customers, expected "
                f"{estimate['expected_incremental']:+.1f} incremental (everyone: "
                f"{estimate['expected_incremental_everyone']:+.1f})"
            )
        self.stdout.write(f"Written to {summary['out']}, most persuadable first.")
