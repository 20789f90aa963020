"""python manage.py campaign_report CAMPAIGN [--by ATTRIBUTE|segment] [--json]

What a campaign changed: each variant against the control group (conversion rate, uplift with its Newcombe 95 %
interval, p-value, revenue per recipient and its uplift), and with --by the same per segment or attribute,
with Benjamini-Hochberg q-values beside the p-values. CAMPAIGN is a campaign's name or id.
"""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from marketing.models import Campaign
from marketing.reports import campaign_by_reference, campaign_report, report_text


class Command(BaseCommand):
    help = "Report a campaign's uplift against its control group, overall and per segment or attribute."

    def add_arguments(self, parser):
        parser.add_argument("campaign", help="The campaign's name or id.")
        parser.add_argument(
            "--by", help="Break the report down by 'segment' or by an attribute of the recipients (e.g. channel)."
        )
        parser.add_argument("--json", action="store_true", help="Print only the JSON report on stdout.")

    def handle(self, *args, **options):
        try:
            campaign = campaign_by_reference(options["campaign"])
            report = campaign_report(campaign, by=options["by"] or None)
        except Campaign.DoesNotExist as exc:
            raise CommandError(str(exc)) from exc
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        if options["json"]:
            self.stdout.write(json.dumps(report))
        else:
            self.stdout.write(report_text(report))
