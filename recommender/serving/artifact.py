"""The versioned model artifact: one .npz holding the fitted model and what serving needs beside it.

Keys: `model/...` (the algorithm's packed state, header in `model/__meta__`), optionally `bought_together/...`,
and the serving arrays: item -> product ids, customer -> row, precomputed top-N lists with the history item
that explains each slot, global / trending / per-segment popular lists. `__serving__` is a JSON header.
Written with allow_pickle off and read back the same way, so an artifact file cannot run code.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recommender.ml.base import Recommender, from_saved, pack_state, unpack_state

MODEL_PREFIX = "model/"
BOUGHT_TOGETHER_PREFIX = "bought_together/"


@dataclass
class Artifact:
    """Everything one training run hands to serving."""

    header: dict[str, Any]
    model: Recommender
    item_product_ids: np.ndarray  # item index -> Product pk
    user_customer_ids: np.ndarray  # row -> Customer pk
    top_items: np.ndarray  # rows x N item indices best first, -1 padding; already-bought items left out
    top_scores: np.ndarray
    top_because: np.ndarray  # the history item that contributed most to each slot, -1 none
    top_because_kind: np.ndarray  # what the customer did with it (index into header["because_kinds"])
    popular_items: np.ndarray  # all-time, best first
    trending_items: np.ndarray  # the last `trending_days` of data, best first
    segment_ids: np.ndarray
    segment_popular: np.ndarray  # len(segment_ids) x M, -1 padding
    bought_together: Recommender | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict)


SERVING_ARRAYS = (
    "item_product_ids",
    "user_customer_ids",
    "top_items",
    "top_scores",
    "top_because",
    "top_because_kind",
    "popular_items",
    "trending_items",
    "segment_ids",
    "segment_popular",
)


def _packed_model(model: Recommender, prefix: str) -> dict[str, np.ndarray]:
    arrays = {f"{prefix}{k}": v for k, v in pack_state(model.get_state()).items()}
    arrays[f"{prefix}__meta__"] = np.array(json.dumps(model.meta()))
    return arrays


def _model_from(arrays: dict[str, np.ndarray], prefix: str) -> Recommender | None:
    meta_key = f"{prefix}__meta__"
    if meta_key not in arrays:
        return None
    header = json.loads(str(arrays[meta_key]))
    state = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix) and k != meta_key}
    return from_saved(header, unpack_state(state))


def write_artifact(path: Path, artifact: Artifact) -> str:
    """Write atomically (temp file + link) and return the file's sha256; an existing file is never replaced
    (FileExistsError): a recorded checksum must keep matching its file."""
    arrays: dict[str, np.ndarray] = {"__serving__": np.array(json.dumps(artifact.header))}
    arrays.update(_packed_model(artifact.model, MODEL_PREFIX))
    if artifact.bought_together is not None:
        arrays.update(_packed_model(artifact.bought_together, BOUGHT_TOGETHER_PREFIX))
    for name in SERVING_ARRAYS:
        arrays[name] = np.asarray(getattr(artifact, name))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.link(tmp, path)  # unlike a rename, fails when the name is taken
    finally:
        tmp.unlink(missing_ok=True)
    return file_sha256(path)


def read_artifact(path: Path, *, sha256: str | None = None) -> Artifact:
    """Read an artifact back; with `sha256`, refuse a file whose checksum differs (corrupt or replaced)."""
    if sha256 and file_sha256(path) != sha256:
        raise ValueError(f"artifact {path} does not match its recorded sha256 checksum")
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    header = json.loads(str(arrays["__serving__"]))
    return Artifact(
        header=header,
        model=_model_from(arrays, MODEL_PREFIX),
        bought_together=_model_from(arrays, BOUGHT_TOGETHER_PREFIX),
        **{name: arrays[name] for name in SERVING_ARRAYS},
    )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
