"""Readers for public rating data sets (MovieLens 100K / 1M) into a plain frame.

The frame has columns `user, item, rating, timestamp` (timestamp in seconds since the epoch).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

COLUMNS = ["user", "item", "rating", "timestamp"]


def load_movielens(directory: str | Path) -> pd.DataFrame:
    """ml-100k (`u.data`, tab-separated) or ml-1m (`ratings.dat`, `::`-separated) ratings."""
    directory = Path(directory)
    if (directory / "u.data").exists():
        frame = pd.read_csv(directory / "u.data", sep="\t", header=None, names=COLUMNS, engine="c")
    elif (directory / "ratings.dat").exists():
        raw = pd.read_csv(directory / "ratings.dat", sep="\t", header=None, names=["line"], engine="c")
        parts = raw["line"].str.split("::", expand=True)
        frame = pd.DataFrame({col: pd.to_numeric(parts[i]) for i, col in enumerate(COLUMNS)})
    else:
        raise FileNotFoundError(f"no MovieLens ratings (u.data or ratings.dat) in {directory}")
    return frame.astype({"user": "int64", "item": "int64", "rating": "float64", "timestamp": "int64"})


def load_movielens_titles(directory: str | Path) -> pd.DataFrame:
    """Movie id, title and genres (`|`-joined): the text for content-based models."""
    directory = Path(directory)
    if (directory / "u.item").exists():
        genres = [
            "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
            "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
            "War", "Western",
        ]  # fmt: skip
        names = ["item", "title", "release", "video", "url", *genres]
        raw = pd.read_csv(directory / "u.item", sep="|", header=None, names=names, encoding="latin-1")
        flags = raw[genres].to_numpy().astype(bool)
        joined = ["|".join(g for g, f in zip(genres, row, strict=True) if f) for row in flags]
        return pd.DataFrame({"item": raw["item"].astype("int64"), "title": raw["title"], "genres": joined})
    if (directory / "movies.dat").exists():
        raw = pd.read_csv(
            directory / "movies.dat", sep="\t", header=None, names=["line"], encoding="latin-1", engine="c"
        )
        parts = raw["line"].str.split("::", n=2, expand=True)
        return pd.DataFrame({"item": pd.to_numeric(parts[0]), "title": parts[1], "genres": parts[2]})
    raise FileNotFoundError(f"no MovieLens movie list (u.item or movies.dat) in {directory}")
