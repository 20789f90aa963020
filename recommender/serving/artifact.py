"""The versioned model artifact: one .npz holding the fitted model and what serving needs beside it.

Keys: `model/...` (the algorithm's packed state, header in `model/__meta__`), optionally `bought_together/...`,
and the serving arrays: item -> product ids, customer -> row, precomputed top-N lists with the history item
that explains each slot, global / trending / per-segment popular lists. `__serving__` is a JSON header.
Written with allow_pickle off and read back the same way, so an artifact file cannot run code. Files go
through Django's storage API (STORAGES["default"]): a second web or worker machine reads the same model.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, storages

from recommender.ml.base import Recommender, from_saved, pack_state, unpack_state
from recommender.serving.conf import setting

MODEL_PREFIX = "model/"
BOUGHT_TOGETHER_PREFIX = "bought_together/"


@dataclass
class Artifact:
    """Everything one training run hands to serving."""

    header: dict[str, Any]
    model: Recommender
    item_product_ids: np.ndarray  # item index -> Product pk
    # Per customer (None when read without them, see read_artifact):
    user_customer_ids: np.ndarray | None  # row -> Customer pk
    top_items: np.ndarray | None  # rows x N item indices best first, -1 padding; already-bought items left out
    top_scores: np.ndarray | None
    top_because: np.ndarray | None  # the history item that contributed most to each slot, -1 none
    top_because_kind: np.ndarray | None  # what the customer did with it (index into header["because_kinds"])
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
PER_CUSTOMER_ARRAYS = frozenset({"user_customer_ids", "top_items", "top_scores", "top_because", "top_because_kind"})


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


def artifact_storage() -> Storage:
    """Where artifacts live: the default file storage (local MEDIA_ROOT, or an S3-compatible bucket when
    configured), so every web and worker machine reads the same files."""
    return storages["default"]


def write_artifact(name: str, artifact: Artifact, *, storage: Storage | None = None) -> tuple[str, str]:
    """Store the artifact under `name` and return (the name stored, its sha256). A file already stored under
    that name is never replaced (FileExistsError): a recorded checksum must keep matching its file. If another
    writer takes the name meanwhile, the storage picks a free one, which is what is returned."""
    storage = storage or artifact_storage()
    name = str(name)
    if storage.exists(name):
        raise FileExistsError(f"an artifact is already stored as {name}")
    arrays: dict[str, np.ndarray] = {"__serving__": np.array(json.dumps(artifact.header))}
    arrays.update(_packed_model(artifact.model, MODEL_PREFIX))
    if artifact.bought_together is not None:
        arrays.update(_packed_model(artifact.bought_together, BOUGHT_TOGETHER_PREFIX))
    for key in SERVING_ARRAYS:
        arrays[key] = np.asarray(getattr(artifact, key))
    with tempfile.TemporaryFile() as fh:
        np.savez(fh, **arrays)
        fh.seek(0)
        digest = _sha256_of(fh)
        fh.seek(0)
        stored = storage.save(name, File(fh, name=name))
    return stored, digest


def read_artifact(
    name: str, *, sha256: str | None = None, storage: Storage | None = None, per_customer: bool = True
) -> Artifact:
    """Read an artifact back; with `sha256`, refuse a file whose checksum differs (corrupt or replaced).

    Without `per_customer` the customer rows and their precomputed lists are not read (serving reads those per
    customer from the database): None in their place. A remote storage's file is copied once to a local cache
    (RECOMMENDER_ARTIFACT_CACHE), named by its checksum, so each machine downloads a model once.
    """
    storage = storage or artifact_storage()
    path = _local_path(storage, str(name), sha256)
    if sha256 and file_sha256(path) != sha256:
        raise ValueError(f"artifact {name} does not match its recorded sha256 checksum")
    with np.load(path, allow_pickle=False) as data:
        keys = [k for k in data.files if per_customer or k not in PER_CUSTOMER_ARRAYS]
        arrays = {key: data[key] for key in keys}
    header = json.loads(str(arrays["__serving__"]))
    return Artifact(
        header=header,
        model=_model_from(arrays, MODEL_PREFIX),
        bought_together=_model_from(arrays, BOUGHT_TOGETHER_PREFIX),
        **{key: arrays.get(key) for key in SERVING_ARRAYS},
    )


def artifact_exists(name: str, *, storage: Storage | None = None) -> bool:
    return bool(name) and (storage or artifact_storage()).exists(name)


def _local_path(storage: Storage, name: str, sha256: str | None) -> Path:
    """The artifact as a local file: the storage's own file when it has one, else a cached download."""
    if isinstance(storage, FileSystemStorage):
        return Path(storage.path(name))
    # A remote storage (S3) or one in memory: a local copy.
    folder = Path(setting("RECOMMENDER_ARTIFACT_CACHE") or Path(tempfile.gettempdir()) / "recommender-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    key = sha256 or hashlib.sha256(name.encode()).hexdigest()
    cached = folder / f"{key}.npz"
    if cached.exists() and (not sha256 or file_sha256(cached) == sha256):
        return cached
    tmp = folder / f"{key}.{uuid.uuid4().hex}.tmp"
    try:
        with storage.open(name, "rb") as source, open(tmp, "wb") as target:
            for chunk in iter(lambda: source.read(1 << 20), b""):
                target.write(chunk)
        os.replace(tmp, cached)  # whole files only: another process reading the cache never sees a partial one
    finally:
        tmp.unlink(missing_ok=True)
    return cached


def _sha256_of(fh: BinaryIO) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: fh.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return _sha256_of(fh)
