"""Counts per day of the shop's interactions and sign-ups, and how far they have been counted.

`DailyCount` has one row per day (in the site's time zone, settings.TIME_ZONE) with the interactions recorded
that day, their first and last time, and the customers who signed up. `CountWatermark` holds, per counted table,
the highest id already counted: topping up counts only rows with a higher id.
"""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class DailyCount(models.Model):
    day = models.DateField(_("day"), unique=True)
    interactions = models.PositiveBigIntegerField(_("interactions"), default=0)
    first_interaction_at = models.DateTimeField(null=True, blank=True)
    last_interaction_at = models.DateTimeField(null=True, blank=True)
    signups = models.PositiveIntegerField(_("customers signed up"), default=0)

    class Meta:
        verbose_name = _("daily count")
        verbose_name_plural = _("daily counts")
        constraints = [
            models.CheckConstraint(
                condition=Q(interactions=0) | Q(first_interaction_at__isnull=False, last_interaction_at__isnull=False),
                name="daily_count_interactions_have_times",
            )
        ]

    def __str__(self) -> str:
        return f"{self.day}: {self.interactions} interactions, {self.signups} sign-ups"


class CountWatermark(models.Model):
    class Table(models.TextChoices):
        INTERACTIONS = "interactions", _("Interactions")
        CUSTOMERS = "customers", _("Customers")

    table = models.CharField(max_length=20, choices=Table.choices, unique=True)
    last_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.table} counted up to id {self.last_id}"
