"""The one small interface every recommendation algorithm implements.

Users are given by their history rows (a CSR matrix, users x items), not by an index into
the training data: a model scores whatever history it is handed, so events newer than the
model are used at serving time without a retrain (fold-in).

Hyperparameters: each algorithm declares its documented defaults in `defaults`; the
constructor takes any of them as keyword arguments and `get_params()` returns them all.

Serialisation: `model.save(path)` writes one uncompressed NumPy `.npz` file holding a JSON
header (`__meta__`: algorithm name, parameters, catalog size) and the fitted arrays (sparse
matrices as their CSR parts). `Recommender.load(path)` reads any algorithm's file back
(`allow_pickle=False`, so a model file cannot run code). The file is what the model
registry stores as a versioned artifact.
"""

from __future__ import annotations

import copy
import io
import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import numpy as np
import scipy.sparse as sp

FORMAT_VERSION = 1


def top_n(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and values of the n best scores in each row, best first (-inf rows stay last)."""
    n = min(n, scores.shape[1])
    if n <= 0:
        empty = np.empty((scores.shape[0], 0))
        return empty.astype(np.int64), empty
    part = np.argpartition(-scores, n - 1, axis=1)[:, :n]
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    items = np.take_along_axis(part, order, axis=1)
    return items, np.take_along_axis(part_scores, order, axis=1)


class NotFittedError(RuntimeError):
    """A model was asked to score before `fit` (or `load`)."""


class Recommender(ABC):
    """fit on a users x items matrix; score, recommend and find similar items."""

    name: str = "base"

    n_items: int = 0

    # Documented default hyperparameters; every key is a constructor keyword.
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, **params: Any) -> None:
        unknown = set(params) - set(self.defaults)
        if unknown:
            raise TypeError(
                f"{type(self).__name__} has no parameter(s) {sorted(unknown)}; known: {sorted(self.defaults)}"
            )
        for key, default in self.defaults.items():
            setattr(self, key, copy.deepcopy(params.get(key, default)))

    def get_params(self) -> dict[str, Any]:
        """The hyperparameters this model was built with (JSON-serialisable)."""
        return {key: getattr(self, key) for key in self.defaults}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    @abstractmethod
    def fit(self, matrix: sp.csr_matrix) -> Recommender:
        """Learn from the interaction matrix (users x items, weights as values)."""

    @abstractmethod
    def score(self, history: sp.csr_matrix) -> np.ndarray:
        """Dense scores (len(history rows) x n_items) for users with these history rows."""

    def recommend(
        self, history: sp.csr_matrix, *, n: int, exclude: sp.csr_matrix | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-n item indices and scores per history row; items in `exclude` (same shape) never returned.

        Excluded or unscorable slots come back with score -inf: callers drop them.
        """
        scores = np.asarray(self.score(history), dtype=np.float64)
        if exclude is not None and exclude.nnz:
            rows, cols = exclude.nonzero()
            scores[rows, cols] = -np.inf
        return top_n(scores, n)

    def similar_items(self, item: int, *, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Items most similar to `item` (itself excluded), as 1-D (indices, scores), best first.

        Default: score a one-item history. Unscorable slots have score -inf: callers drop them.
        """
        history = sp.csr_matrix(([1.0], ([0], [item])), shape=(1, self.n_items))
        items, scores = self.recommend(history, n=n, exclude=history)
        return items[0], scores[0]

    # --- serialisation -------------------------------------------------------------------

    def get_state(self) -> dict[str, np.ndarray | sp.spmatrix | sp.sparray]:
        """The fitted arrays that, with the parameters, rebuild this model."""
        raise NotImplementedError(f"{type(self).__name__} cannot be saved")

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore the fitted arrays written by `get_state`."""
        raise NotImplementedError(f"{type(self).__name__} cannot be loaded")

    @classmethod
    def from_header(cls, header: dict[str, Any]) -> Recommender:
        """An unfitted model with the saved parameters (a blend also rebuilds its parts here)."""
        return cls(**header["params"])

    def meta(self) -> dict[str, Any]:
        return {"algorithm": self.name, "params": self.get_params(), "n_items": int(self.n_items)}

    def save(self, path: str | Path | BinaryIO) -> None:
        """Write the fitted model to `path` (an .npz file; see the module docstring)."""
        arrays = pack_state(self.get_state())
        header = dict(self.meta(), format=FORMAT_VERSION)
        arrays["__meta__"] = np.array(json.dumps(header))
        if isinstance(path, str | Path):
            with open(path, "wb") as fh:
                np.savez(fh, **arrays)
        else:
            np.savez(path, **arrays)

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        self.save(buffer)
        return buffer.getvalue()

    @staticmethod
    def load(path: str | Path | BinaryIO) -> Recommender:
        """Read any algorithm's saved file back into a ready-to-score model."""
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(str(data["__meta__"]))
            arrays = {key: data[key] for key in data.files if key != "__meta__"}
        return from_saved(header, unpack_state(arrays))


def from_saved(header: dict[str, Any], state: dict[str, Any]) -> Recommender:
    """Rebuild a model from its header and unpacked state (used by `load` and by blends)."""
    from recommender.ml.registry import ALGORITHMS  # the registry imports every algorithm module

    try:
        cls = ALGORITHMS[header["algorithm"]]
    except KeyError:
        raise ValueError(f"unknown algorithm {header['algorithm']!r} in model file") from None
    model = cls.from_header(header)
    model.n_items = int(header["n_items"])
    model.set_state(state)
    return model


def pack_state(state: dict[str, Any], prefix: str = "") -> dict[str, np.ndarray]:
    """Flatten arrays and sparse matrices into plain named arrays for np.savez."""
    out: dict[str, np.ndarray] = {}
    for key, value in state.items():
        name = f"{prefix}{key}"
        if sp.issparse(value):
            csr = sp.csr_matrix(value)
            out[f"{name}.csr_data"] = csr.data
            out[f"{name}.csr_indices"] = csr.indices
            out[f"{name}.csr_indptr"] = csr.indptr
            out[f"{name}.csr_shape"] = np.asarray(csr.shape, dtype=np.int64)
        else:
            out[name] = np.asarray(value)
    return out


def unpack_state(arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """Inverse of `pack_state`: CSR parts become csr_matrix again."""
    out: dict[str, Any] = {}
    for key, value in arrays.items():
        if key.endswith(".csr_data"):
            name = key[: -len(".csr_data")]
            shape = tuple(int(s) for s in arrays[f"{name}.csr_shape"])
            out[name] = sp.csr_matrix((value, arrays[f"{name}.csr_indices"], arrays[f"{name}.csr_indptr"]), shape=shape)
        elif ".csr_" not in key:
            out[key] = value
    return out


def as_csr(matrix: Any, dtype: type = np.float32) -> sp.csr_matrix:
    """A canonical CSR copy (summed duplicates, sorted indices) in `dtype`."""
    csr = sp.csr_matrix(matrix, dtype=dtype)
    csr.sum_duplicates()
    csr.sort_indices()
    return csr


def binarize(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Positive entries become 1, everything else is dropped."""
    out = as_csr(matrix)
    out.data = (out.data > 0).astype(np.float32)
    out.eliminate_zeros()
    return out
