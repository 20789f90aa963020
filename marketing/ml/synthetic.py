"""A simulated randomised campaign whose effect on each customer is known, to check uplift models against.

Customers differ in recency, frequency, spend, channel and cart; the campaign moves some of them:
- persuadables - visitors of the last 8 weeks with something in the cart - gain +5 to +12 points of
  conversion, the more the longer they browsed;
- lapsed customers (no visit for 8+ weeks) acquired by email gain +5 points;
- "sleeping dogs" - frequent buyers (4+ purchases) - lose 4 points (the message annoys them);
- everyone else is unmoved.
Some spend values and channels are missing, as in real exports.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class SyntheticCampaign:
    features: pd.DataFrame
    treatment: np.ndarray  # 1 treated, 0 control
    converted: np.ndarray  # 0/1
    revenue: np.ndarray
    true_uplift: np.ndarray  # the conversion probability the campaign adds for each customer


def synthetic_campaign(n: int, *, seed: int, treated_share: float = 0.5) -> SyntheticCampaign:
    """`n` recipients of a randomised campaign with a known, heterogeneous effect (see the module doc)."""
    rng = np.random.default_rng(seed)
    weeks = rng.integers(0, 16, n)
    purchases = rng.poisson(2.0, n)
    spend = np.round(rng.lognormal(3.8, 0.6, n), 2)
    browsing = rng.gamma(2.0, 7.0, n)
    cart = rng.random(n) < 0.3
    channel = rng.choice(["email", "search", "social", "referral"], n, p=[0.4, 0.3, 0.2, 0.1])

    base = 1 / (1 + np.exp(-(-2.6 + 0.25 * np.minimum(purchases, 8) - 0.08 * weeks + 0.02 * browsing)))
    persuadable = cart * (0.4 + 0.6 * np.clip(browsing / 30, 0, 1)) * (weeks < 8)
    uplift = 0.12 * persuadable + 0.05 * ((weeks >= 8) & (channel == "email")) - 0.04 * (purchases >= 4)
    uplift = np.clip(uplift, -base, 1 - base)

    treatment = (rng.random(n) < treated_share).astype(int)
    converted = (rng.random(n) < base + treatment * uplift).astype(int)
    revenue = np.where(converted == 1, np.round(spend * rng.lognormal(0, 0.3, n), 2), 0.0)

    features = pd.DataFrame(
        {
            "weeks_since_visit": weeks,
            "num_past_purchases": purchases,
            "spent_last_purchase": np.where(rng.random(n) < 0.05, np.nan, spend),
            "browsing_minutes": np.round(browsing, 1),
            "shopping_cart": cart,
            "channel": pd.Series(channel, dtype=object).where(rng.random(n) >= 0.03, None),
        }
    )
    return SyntheticCampaign(features, treatment, converted, revenue, uplift)
