"""Set up the demo (what `make demo` runs): a staff login, an API key, demo data, then the registered demo steps.

Idempotent: a second run keeps the login and its password, so open sessions stay signed in (--reset-password sets
it to the demo one), keeps the API client (its key is shown only when issued; --new-api-key issues another), and
generates data only into a database without customers.
"""

import sys

from django.core.management import call_command
from django.core.management.base import BaseCommand

from shop.demo.setup import (
    DEMO_API_CLIENT,
    DEMO_USERNAME,
    DemoSetupContext,
    demo_password,
    demo_setup_steps,
    ensure_demo_api_client,
    ensure_demo_login,
    existing_shop_data,
)


class Command(BaseCommand):
    help = (
        "Set up the demo: the staff login 'demo' (password DEMO_PASSWORD or 'demo-password'), an API client, "
        "demo data when the database has no customers yet, and the demo steps other apps register."
    )

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=5000, help="Customers to generate (default 5000).")
        parser.add_argument("--seed", type=int, default=42, help="Seed of the demo data (default 42).")
        parser.add_argument("--new-api-key", action="store_true", help="Issue a new key for the demo API client.")
        parser.add_argument(
            "--reset-password",
            action="store_true",
            help="Set an existing demo login's password to DEMO_PASSWORD or 'demo-password' (signs out its sessions).",
        )
        parser.add_argument(
            "--url",
            default="http://127.0.0.1:8000",
            help="Where the demo will be served, for the closing message (make demo passes the port it found free).",
        )

    def handle(self, *args, customers: int, seed: int, new_api_key: bool, reset_password: bool, url: str, **options):
        password = demo_password()
        user, created = ensure_demo_login(password=password, reset_password=reset_password)
        if created or reset_password:
            verb = "Created" if created else "Reset the password of"
            self.stdout.write(self.style.SUCCESS(f"{verb} staff login: {DEMO_USERNAME} / {password}"))
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Reusing staff login: {DEMO_USERNAME} (password unchanged, open sessions stay signed in; "
                    f"--reset-password sets it to {password})"
                )
            )

        client, raw_key = ensure_demo_api_client(user=user, new_key=new_api_key)
        if raw_key:
            self.stdout.write(self.style.SUCCESS(f"API client {client.name!r} key: {raw_key}"))
            self.stdout.write(f"  use it as the header  Authorization: Api-Key {raw_key}")
        else:
            self.stdout.write(
                f"Reusing API client {DEMO_API_CLIENT!r} (key {client.key_prefix}…, shown when it was issued; "
                "run setup_demo --new-api-key for a new one)."
            )

        found = existing_shop_data()
        data_created = found.customers == 0
        if data_created:
            self.stdout.write(f"Generating demo data: {customers} customers, seed {seed}...")
            call_command("generate_demo_data", customers=customers, seed=seed, stdout=self.stdout, stderr=sys.stderr)
            found = existing_shop_data()
        else:
            self.stdout.write(
                f"Reusing the data in the database: {found.customers:,} customers, {found.products:,} products, "
                f"{found.interactions:,} interactions (no demo data generated)."
            )

        context = DemoSetupContext(user=user, customers=found.customers, data_created=data_created, seed=seed)
        for step in demo_setup_steps():
            self.stdout.write(f"{step.name}...")
            try:
                result = step.run(context)
            except Exception as exc:  # noqa: BLE001 - one failing step must not hide the login and data made above
                self.stderr.write(self.style.ERROR(f"  {step.name} failed: {exc}"))
                continue
            if result:
                self.stdout.write(f"  {result}")

        base = url.rstrip("/")
        self.stdout.write(self.style.SUCCESS(f"Demo ready: {base}/staff/, {base}/admin/ and {base}/api/docs/"))
        if created or reset_password:
            self.stdout.write(f"  login {DEMO_USERNAME} / {password}")
        else:
            self.stdout.write(f"  login {DEMO_USERNAME} with the password it already had")
