"""Generate the synthetic demo shop (customers with hidden personas, catalog, a year of events) into the database."""

import json
import sys
from datetime import UTC, datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime
from tqdm import tqdm

from shop.demo.services import DemoDataConflict, generate_demo_data


class Command(BaseCommand):
    # A data load: URL and admin checks belong to the web process, not here.
    requires_system_checks = []
    help = (
        "Generate a synthetic shop: about 20 events per customer over the year up to now (or --end), customers "
        "with hidden personas (Customer.attributes['persona']). Deterministic for a seed and --end; re-running a "
        "stored seed writes nothing, and a stored seed with another size is refused."
    )

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=5000, help="Number of customers (default 5000).")
        parser.add_argument("--seed", type=int, default=42, help="Random seed (default 42).")
        parser.add_argument(
            "--end",
            type=parse_end,
            help="End the year of events here instead of now: a date (YYYY-MM-DD: events up to the end of that "
            "day, UTC) or an ISO date-time. Pins the data, as tests do.",
        )
        parser.add_argument("--json", action="store_true", dest="as_json", help="Print one JSON summary on stdout.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar on stderr.")

    def handle(self, *args, customers: int, seed: int, as_json: bool, no_progress: bool, end=None, **options):
        if end is not None and not isinstance(end, datetime):  # call_command passes the option as given
            end = parse_end(str(end))
        if customers < 1:
            raise CommandError(f"--customers must be at least 1 (got {customers}).")
        if seed < 0:
            raise CommandError(f"--seed must be 0 or more (got {seed}).")
        bars: dict[str, tqdm] = {}

        def progress(stage: str, done: int, total: int) -> None:
            bar = bars.get(stage)
            if bar is None:
                bar = bars[stage] = tqdm(total=total, desc=f"writing {stage}", unit="rows", file=sys.stderr)
            bar.update(done - bar.n)

        if not no_progress:
            print(f"Demo data: {customers} customers, seed {seed}", file=sys.stderr)
        try:
            summary = generate_demo_data(
                customers=customers, seed=seed, end=end, progress=None if no_progress else progress
            )
        except DemoDataConflict as exc:
            raise CommandError(str(exc)) from exc
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        finally:
            for bar in bars.values():
                bar.close()

        if as_json:
            self.stdout.write(json.dumps(summary.as_dict()))
            return
        if not summary.created:
            self.stdout.write(f"Demo data for seed {seed} is already stored; nothing written.")
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Generated in {summary.generate_seconds:.1f} s, written in {summary.write_seconds:.1f} s."
                )
            )
        self.stdout.write(
            f"customers {summary.customers:,} · products {summary.products:,} · categories {summary.categories} · "
            + (f"orders {summary.orders:,} · " if summary.orders is not None else "")
            + f"interactions {summary.interactions:,}"
        )
        self.stdout.write("personas: " + ", ".join(f"{k} {v:,}" for k, v in summary.personas.items()))
        if summary.kinds:
            self.stdout.write("interactions: " + ", ".join(f"{k} {v:,}" for k, v in summary.kinds.items()))
        if summary.first_event:
            self.stdout.write(f"events from {summary.first_event} to {summary.last_event}")


def parse_end(value: str) -> datetime:
    """--end: a date means the end of that day (UTC); a date-time without a zone is UTC."""
    try:
        day = parse_date(value.strip()) if isinstance(value, str) and len(value.strip()) == 10 else None
    except ValueError:  # well formed, but no such day
        raise CommandError(f"--end must be a date like 2025-12-31 or an ISO date-time (got {value!r}).") from None
    if isinstance(value, datetime):
        moment = value
    elif day is not None:
        moment = datetime.combine(day + timedelta(days=1), time.min)
    else:
        try:
            moment = parse_datetime(value)
        except ValueError:
            moment = None
        if moment is None:
            raise CommandError(f"--end must be a date like 2025-12-31 or an ISO date-time (got {value!r}).")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
