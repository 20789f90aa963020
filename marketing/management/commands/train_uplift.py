"""python manage.py train_uplift CAMPAIGN [--variant NAME] [--outcome conversion|revenue] [--json]

Fits a model of each recipient's incremental response to one variant against control (a meta-learner chosen on a
validation split) and evaluates it on a held-out split: Qini, AUUC, uplift in the top 10 / 30 % against random
targeting. The model is stored (admin: Uplift models) for targeting and for score_uplift.
"""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from marketing.models import Campaign
from marketing.reports import campaign_by_reference
from marketing.uplift_models import OUTCOMES, train_uplift_model, uplift_summary


def _fmt(value, percent: bool = False) -> str:
    if value is None:
        return "—"
    return f"{100 * value:+.2f} pts" if percent else f"{value:.4f}"


class Command(BaseCommand):
    help = "Train an uplift model on a campaign's recipients (one variant against control) and evaluate it."

    def add_arguments(self, parser):
        parser.add_argument("campaign", help="The campaign's name or id.")
        parser.add_argument("--variant", help="The variant to model against control (default: the first).")
        parser.add_argument("--outcome", choices=OUTCOMES, default="conversion", help="What to model.")
        parser.add_argument("--seed", type=int, default=0, help="Random seed of the splits and learners.")
        parser.add_argument("--json", action="store_true", help="Print only the JSON summary on stdout.")

    def handle(self, *args, **options):
        try:
            campaign = campaign_by_reference(options["campaign"])
            if options["verbosity"] and not options["json"]:
                self.stderr.write(f"training on {campaign.name!r}...")
            model = train_uplift_model(
                campaign=campaign, variant=options["variant"], outcome=options["outcome"], seed=options["seed"]
            )
        except Campaign.DoesNotExist as exc:
            raise CommandError(str(exc)) from exc
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        summary = uplift_summary(model)
        if options["json"]:
            self.stdout.write(json.dumps(summary))
            return
        percent = options["outcome"] == "conversion"
        self.stdout.write(
            f"Uplift model {model.pk} of {campaign.name!r} ({model.variant_name} against control, "
            f"{options['outcome']}): {summary['learner']}\n"
            f"  held-out recipients  {summary['holdout_recipients']}\n"
            f"  Qini coefficient     {_fmt(summary['qini'])}{_interval(model.metrics.get('qini_interval'))}\n"
            f"  AUUC                 {_fmt(summary['auuc'])}\n"
            f"  uplift, top 10 %     {_fmt(summary['uplift_at_10'], percent)}\n"
            f"  uplift, top 30 %     {_fmt(summary['uplift_at_30'], percent)}\n"
            f"  uplift, everyone     {_fmt(summary['random_uplift'], percent)} (random targeting)"
        )


def _interval(bounds) -> str:
    """The Qini's 95 % bootstrap interval: when it holds 0, the held-out split cannot tell the model from random."""
    if not bounds:
        return ""
    low, high = bounds
    verdict = "beats random targeting" if low > 0 else "cannot be told from random targeting on this split"
    return f" (95 % interval {low:.3f} to {high:.3f}: {verdict})"
