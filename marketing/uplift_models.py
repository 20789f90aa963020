"""Uplift models of a campaign: whom did it move? Trains on its recipients, stores the model, scores customers.

Features are what was known about each recipient before the send:
- imported experiments: the attribute columns of the file (kept on each recipient);
- campaigns sent here: the segments' customer features (recency, frequency, spend, browsing, category
  shares... `segments.ml.features.customer_features`) computed from the shop's events *before the send*, so
  the purchases the campaign caused never leak into the features, plus the recipient's segment at send time.
The science (meta-learners, Qini, AUUC) is `marketing.ml.uplift.fit_uplift`; this module turns recipients
into frames, stores an `UpliftModel` row with the metrics and a joblib artifact under MEDIA_ROOT/uplift/.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Min

from marketing.models import Campaign, Recipient, UpliftModel
from marketing.reports import CONTROL, SEGMENT, recipients_frame
from segments.ml.features import NUMERIC_FEATURES, category_columns, customer_features
from segments.selectors import feature_inputs

OUTCOMES = ("conversion", "revenue")
SEGMENT_COLUMN = "segment"
ARTIFACT_DIR = "uplift"
SEED = 0


@dataclass
class TrainingData:
    features: pd.DataFrame  # one row per recipient, feature columns only
    treatment: np.ndarray
    outcome: np.ndarray
    variant: str
    source: str  # "attributes" or "segment_features"


def pick_variant(campaign: Campaign, name: str | None) -> str:
    """The variant to model against control: the one named, else the campaign's first."""
    names = list(campaign.variants.order_by("position", "id").values_list("name", flat=True))
    if not names:
        raise ValidationError(f"campaign {campaign.name!r} has no variants")
    if name is None:
        return names[0]
    if name not in names:
        raise ValidationError(f"campaign {campaign.name!r} has no variant {name!r}; its variants: {', '.join(names)}")
    return name


def training_data(campaign: Campaign, *, variant: str | None = None, outcome: str = "conversion") -> TrainingData:
    if outcome not in OUTCOMES:
        raise ValidationError(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
    variant = pick_variant(campaign, variant)
    native = campaign.origin != Campaign.Origin.IMPORTED
    frame = recipients_frame(campaign, by=SEGMENT if native else None, attributes=True)
    frame = frame[(frame["group"] == CONTROL) | (frame["group"] == variant)].reset_index(drop=True)
    if frame.empty:
        raise ValidationError(f"campaign {campaign.name!r} has no measured recipients yet")
    if not native:
        features = attribute_features(frame["attributes"])
        source = "attributes"
    else:
        features = native_features(campaign, frame)
        source = "segment_features"
    if features.shape[1] == 0:
        raise ValidationError(
            f"campaign {campaign.name!r} has no features to learn from (import it with --attribute-cols)"
        )
    y = frame["conversions"].to_numpy(dtype=float) if outcome == "conversion" else frame["revenue"].to_numpy(float)
    treatment = (frame["group"] != CONTROL).to_numpy(dtype=int)
    return TrainingData(features=features, treatment=treatment, outcome=y, variant=variant, source=source)


def attribute_features(attributes: pd.Series) -> pd.DataFrame:
    """One column per attribute key; numbers stay numbers, anything else is a category."""
    frame = pd.DataFrame.from_records([a if isinstance(a, dict) else {} for a in attributes])
    # Sorted: PostgreSQL's jsonb reorders keys, and the model must see the same columns on every database.
    frame = frame.reindex(columns=sorted(frame.columns))
    for column in frame.columns:
        numeric = pd.to_numeric(frame[column], errors="coerce")
        if numeric.notna().sum() == frame[column].notna().sum():
            frame[column] = numeric.astype(float)
        else:
            frame[column] = frame[column].astype(object)
    return frame


def native_features(campaign: Campaign, frame: pd.DataFrame) -> pd.DataFrame:
    """Segment features of each recipient's customer as of the campaign's first send, plus its segment."""
    starts = Recipient.objects.filter(campaign=campaign).aggregate(first=Min("sent_at"))
    as_of = starts["first"] or campaign.launched_at or campaign.send_at
    if as_of is None:
        raise ValidationError(f"campaign {campaign.name!r} has not been sent: no features as of a send time")
    members = Recipient.objects.filter(campaign=campaign, customer__isnull=False).values("customer_id")
    inputs = feature_inputs(customer_ids=members, before=as_of)
    features = customer_features(inputs, as_of=as_of)
    columns = [c for c in NUMERIC_FEATURES if c in features.columns] + category_columns(features)
    rows = features[columns].reindex(frame["customer_id"].to_numpy()).reset_index(drop=True).astype(float)
    rows[SEGMENT_COLUMN] = frame[SEGMENT].astype(object).to_numpy() if SEGMENT in frame else None
    return rows


def _save_artifact(campaign: Campaign, payload: dict) -> str:
    buffer = io.BytesIO()
    joblib.dump(payload, buffer, compress=3)
    # A uuid in the name: environments sharing MEDIA_ROOT never overwrite each other's models.
    name = f"{ARTIFACT_DIR}/campaign-{campaign.pk}-{uuid.uuid4().hex[:12]}.joblib"
    return default_storage.save(name, ContentFile(buffer.getvalue()))


def train_uplift_model(
    *, campaign: Campaign, variant: str | None = None, outcome: str = "conversion", seed: int = SEED
) -> UpliftModel:
    """Fit, evaluate on a held-out split and store an uplift model of `variant` (default: the first) against
    control. Raises ValidationError naming what is missing (variants, recipients, features, outcomes)."""
    from marketing.ml.uplift import fit_uplift  # scikit-learn loads only when a model is trained

    data = training_data(campaign, variant=variant, outcome=outcome)
    try:
        result = fit_uplift(data.features, data.treatment, data.outcome, outcome=outcome, seed=seed)
    except ValueError as exc:
        raise ValidationError(f"cannot train an uplift model on {campaign.name!r}: {exc}") from exc
    columns = [str(c) for c in data.features.columns]
    path = _save_artifact(
        campaign,
        {"model": result.model, "features": columns, "source": data.source, "campaign": campaign.pk},
    )
    metrics = {
        **result.metrics,
        "validation": result.validation,
        "split_sizes": result.split_sizes,
        "feature_source": data.source,
        "recipients": len(data.treatment),
    }
    with transaction.atomic():
        model = UpliftModel(
            campaign=campaign,
            variant_name=data.variant,
            outcome=outcome,
            learner=result.learner,
            features=columns,
            metrics=_plain(metrics),
            artifact_path=path,
        )
        model.full_clean()
        model.save()
    return model


def _plain(value):
    """JSON-safe: numpy scalars to Python, NaN to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def uplift_summary(model: UpliftModel) -> dict:
    """The fixed `train_uplift --json` document."""
    metrics = model.metrics
    return {
        "campaign": model.campaign.name,
        "learner": model.learner,
        "qini": metrics.get("qini"),
        "auuc": metrics.get("auuc"),
        "uplift_at_10": metrics.get("uplift_at_10"),
        "uplift_at_30": metrics.get("uplift_at_30"),
        "random_uplift": metrics.get("random_uplift"),
        "holdout_recipients": metrics.get("holdout_recipients"),
    }


def latest_uplift_model(campaign: Campaign) -> UpliftModel:
    model = campaign.uplift_models.order_by("-created_at", "-id").first()
    if model is None:
        raise ValidationError(f"campaign {campaign.name!r} has no uplift model; run train_uplift first")
    return model


def load_artifact(model: UpliftModel) -> dict:
    try:
        with default_storage.open(model.artifact_path, "rb") as handle:
            return joblib.load(handle)
    except (OSError, ValueError, EOFError) as exc:
        raise ValidationError(f"cannot read the uplift model file {model.artifact_path}: {exc}") from exc


def score_file(*, campaign: Campaign, path: Path, out: Path, id_col: str | None = None) -> dict:
    """Predicted uplift for each row of a CSV with the model's attribute columns, written to `out` sorted by it.

    Adds `predicted_uplift` and `uplift_rank` (1 = the most persuadable). Returns what was scored and what
    targeting the top 10 / 30 / 50 % is expected to bring against targeting everyone.
    """
    from marketing.ml.uplift import targeting_estimate

    model = latest_uplift_model(campaign)
    artifact = load_artifact(model)
    if artifact.get("source") != "attributes":
        raise ValidationError(
            f"the uplift model of {campaign.name!r} reads the shop's customer features, not file columns; "
            "score_uplift scores files for imported experiments"
        )
    try:
        table = pd.read_csv(path, low_memory=False)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read {path}: {exc}") from exc
    missing = [c for c in artifact["features"] if c not in table.columns]
    if missing:
        raise ValidationError(f"{path.name} has no column {', '.join(repr(c) for c in missing)} that the model reads")
    features = attribute_features(table[artifact["features"]].to_dict("records"))
    features = features.reindex(columns=artifact["features"])
    scores = artifact["model"].predict(features)
    table["predicted_uplift"] = scores
    table = table.sort_values("predicted_uplift", ascending=False, kind="stable")
    table["uplift_rank"] = np.arange(1, len(table) + 1)
    try:
        table.to_csv(out, index=False)
    except OSError as exc:
        raise ValidationError(f"cannot write {out}: {exc}") from exc
    return {
        "campaign": campaign.name,
        "model": model.pk,
        "learner": model.learner,
        "scored": len(table),
        "out": str(out),
        "mean_predicted_uplift": float(np.mean(scores)) if len(scores) else None,
        "targeting": {f"top_{int(s * 100)}": targeting_estimate(scores, share=s) for s in (0.1, 0.3, 0.5)}
        if len(scores)
        else {},
    }
