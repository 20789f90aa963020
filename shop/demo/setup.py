"""The one-command demo (`manage.py setup_demo`, run by `make demo`): a staff login, an API client, demo data,
then whatever later steps other apps register.

Hook point: an app that wants a demo step (segments: "run a segmentation", recommender: "train the recommender")
registers it from its `AppConfig.ready()`, so `shop` never imports those apps:

    from shop.demo.setup import register_demo_setup_step
    register_demo_setup_step(name="Run a segmentation", run=run_demo_segmentation)

Steps run in registration order after the demo data exists; each gets a `DemoSetupContext` and returns a line to
print. A step must be idempotent (a second `make demo` should reuse what the first made), and a failing step is
reported without undoing the login, key or data made before it.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.db import transaction

from shop.models import ApiClient, Customer, Interaction, Product
from shop.services import create_api_client, rotate_api_client_key

DEMO_USERNAME = "demo"
DEFAULT_DEMO_PASSWORD = "demo-password"
DEMO_API_CLIENT = "demo-frontend"


def demo_password() -> str:
    """The demo login's password: DEMO_PASSWORD from the environment, else the documented default."""
    return os.environ.get("DEMO_PASSWORD") or DEFAULT_DEMO_PASSWORD


@dataclass
class DemoSetupContext:
    user: AbstractUser
    customers: int  # customers in the database after the data step
    data_created: bool  # False when existing data was reused
    seed: int


@dataclass(frozen=True)
class DemoSetupStep:
    name: str
    run: Callable[[DemoSetupContext], str | None]


_STEPS: list[DemoSetupStep] = []


def register_demo_setup_step(*, name: str, run: Callable[[DemoSetupContext], str | None]) -> None:
    """Add a step to `setup_demo` (once per name: `ready()` may run more than once in tests)."""
    if all(step.name != name for step in _STEPS):
        _STEPS.append(DemoSetupStep(name=name, run=run))


def demo_setup_steps() -> list[DemoSetupStep]:
    return list(_STEPS)


@transaction.atomic
def ensure_demo_login(*, password: str, reset_password: bool = False) -> tuple[AbstractUser, bool]:
    """The `demo` staff superuser, created with this password or kept active and staff. An existing login keeps its
    password unless `reset_password`: a new password hash would sign out every open session of it."""
    user, created = get_user_model().objects.get_or_create(
        username=DEMO_USERNAME, defaults={"email": "demo@example.com"}
    )
    user.is_active = user.is_staff = user.is_superuser = True
    if created or reset_password:
        user.set_password(password)
    user.save()
    return user, created


def free_port(*, start: int, host: str = "127.0.0.1", tries: int = 50) -> int:
    """The first port from `start` that nothing listens on (the demo server binds it next)."""
    end = min(start + tries, 65536)
    for port in range(start, end):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return port
    raise OSError(f"no free port on {host} between {start} and {end - 1}")


def ensure_demo_api_client(*, user: AbstractUser, new_key: bool = False) -> tuple[ApiClient, str | None]:
    """The demo frontend's API client. Its raw key exists only when issued: on creation, or when `new_key`."""
    client = ApiClient.objects.filter(name=DEMO_API_CLIENT).first()
    if client is None:
        return create_api_client(name=DEMO_API_CLIENT, created_by=user)
    if new_key:
        return client, rotate_api_client_key(client=client)
    return client, None


@dataclass
class ExistingData:
    customers: int
    products: int
    interactions: int


def existing_shop_data() -> ExistingData:
    return ExistingData(
        customers=Customer.objects.count(),
        products=Product.objects.count(),
        interactions=Interaction.objects.count(),
    )
