"""Create an API client for an application and print its key (the only time it is shown)."""

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from shop.models import all_api_scopes
from shop.services import create_api_client


class Command(BaseCommand):
    help = "Create an API client and print its raw key once (only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="Unique name of the client application, e.g. 'shop-frontend'.")
        parser.add_argument("--throttle-rate", default="", help="Own rate limit like '600/minute' (default: global).")
        parser.add_argument(
            "--scopes",
            default=None,
            help=f"Comma-separated scopes the key may use (default: all): {', '.join(all_api_scopes())}.",
        )
        parser.add_argument("--json", action="store_true", dest="as_json", help="Print one JSON document with the key.")

    def handle(self, *args, name: str, throttle_rate: str, scopes: str | None, as_json: bool = False, **options):
        wanted = None if scopes is None else [s.strip() for s in scopes.split(",") if s.strip()]
        if wanted == []:
            raise CommandError(f"--scopes names no scope; choose from {', '.join(all_api_scopes())}.")
        try:
            client, raw_key = create_api_client(name=name, throttle_rate=throttle_rate, scopes=wanted)
        except ValidationError as exc:
            raise CommandError("; ".join(f"{f}: {' '.join(m)}" for f, m in exc.message_dict.items())) from exc
        if as_json:
            self.stdout.write(
                json.dumps(
                    {
                        "id": client.pk,
                        "name": client.name,
                        "key": raw_key,
                        "prefix": client.key_prefix,
                        "scopes": client.scopes,
                    }
                )
            )
        else:
            self.stdout.write(self.style.SUCCESS(f"Created API client {client.name!r}."))
            self.stdout.write(f"Scopes: {', '.join(client.scopes)}")
            self.stdout.write(f"Key (shown once, store it now): {raw_key}")
            self.stdout.write(f"Use it as: Authorization: Api-Key {raw_key}")
