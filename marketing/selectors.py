"""Reads for campaigns: lists with their counts, recipients with their customer, the audit trail."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from marketing.models import Campaign, CampaignAction, Recipient


def campaigns_with_counts() -> QuerySet[Campaign]:
    """Campaigns with `recipients` (treated and control: everyone not left out) and `sent`, in one query."""
    return Campaign.objects.annotate(
        recipient_count=Count("recipients", filter=~Q(recipients__status=Recipient.Status.EXCLUDED)),
        sent_count=Count("recipients", filter=Q(recipients__status=Recipient.Status.SENT)),
    ).order_by("-created_at", "-id")


def campaign_list_rows() -> list[dict]:
    return [
        {
            "id": c.pk,
            "name": c.name,
            "status": c.status,
            "channel": c.channel,
            "recipients": c.recipient_count,
            "sent": c.sent_count,
        }
        for c in campaigns_with_counts().only("id", "name", "status", "channel", "created_at")
    ]


def campaign_status_counts(*, campaign: Campaign) -> dict[str, int]:
    """Recipients by status, and the left-out ones by reason."""
    rows = campaign.recipients.order_by().values_list("status", "exclusion").annotate(n=Count("pk"))
    out: dict[str, int] = {}
    for status, exclusion, n in rows:
        out[status] = out.get(status, 0) + n
        if exclusion:
            out[f"excluded:{exclusion}"] = out.get(f"excluded:{exclusion}", 0) + n
    return out


def campaign_actions(*, campaign: Campaign) -> QuerySet[CampaignAction]:
    return campaign.actions.select_related("user")
