"""Import a MovieLens directory: users become customers, movies products, genres categories, ratings interactions.

Two layouts: ml-100k (`u.data` tab-separated, `u.item` and `u.user` `|`-separated, latin-1) and ml-1m
(`ratings.dat`, `movies.dat`, `users.dat`, `::`-separated). Ids are prefixed with the data set ("ml100k-196")
because every MovieLens release numbers its users and movies from 1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify

from shop.bulk import UpsertResult
from shop.importers.common import (
    ALREADY_IMPORTED,
    UNCHANGED,
    ImportReport,
    Reasons,
    content_event_ids,
    existing_keys,
    flag_event_times,
    flag_rejected,
    flag_rejected_rows,
    ids_by_key,
    insert_interactions,
    upsert_by_key,
)
from shop.models import Category, Customer, Gender, Interaction, InteractionKind, InteractionSource, Product

GENRES_100K = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama", "Fantasy",
    "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
]  # fmt: skip
OCCUPATIONS_1M = [
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student", "customer service",
    "doctor/health care", "executive/managerial", "farmer", "homemaker", "K-12 student", "lawyer", "programmer",
    "retired", "sales/marketing", "scientist", "self-employed", "technician/engineer", "tradesman/craftsman",
    "unemployed", "writer",
]  # fmt: skip
# ml-1m gives age groups; a representative age for each turns into a birth year.
AGE_GROUPS_1M = {1: ("Under 18", 16), 18: ("18-24", 21), 25: ("25-34", 30), 35: ("35-44", 40), 45: ("45-49", 47),
                 50: ("50-55", 53), 56: ("56+", 60)}  # fmt: skip
PARENT_CATEGORY = ("movies", "Movies")
# Larger ids are not MovieLens ids (and would not fit an integer column).
MAX_ID = 2**31 - 1


@dataclass(frozen=True)
class Layout:
    name: str
    prefix: str
    encoding: str
    ratings: tuple[str, str, list[str]]  # file, separator, columns
    movies: tuple[str, str, list[str]]
    users: tuple[str, str, list[str]]


ML_100K = Layout(
    name="ml-100k",
    prefix="ml100k-",
    encoding="latin-1",
    ratings=("u.data", "\t", ["user_id", "movie_id", "rating", "timestamp"]),
    movies=("u.item", "|", ["movie_id", "title", "release_date", "video_release_date", "imdb_url", *GENRES_100K]),
    users=("u.user", "|", ["user_id", "age", "gender", "occupation", "zip"]),
)
ML_1M = Layout(
    name="ml-1m",
    prefix="ml1m-",
    encoding="latin-1",
    ratings=("ratings.dat", "::", ["user_id", "movie_id", "rating", "timestamp"]),
    movies=("movies.dat", "::", ["movie_id", "title", "genres"]),
    users=("users.dat", "::", ["user_id", "gender", "age", "occupation", "zip"]),
)


def import_movielens(*, directory: Path, progress: bool = False, id_prefix: str | None = None) -> ImportReport:
    """Import ml-100k or ml-1m from `directory`. Re-importing adds nothing; changed users or movies are updated."""
    directory = Path(directory)
    layout = detect_layout(directory)
    prefix = layout.prefix if id_prefix is None else id_prefix
    report = ImportReport(kind="movielens", source=str(directory))
    report.details["layout"] = layout.name

    with report.stage("read"):
        users, user_lines = _read(directory, layout.users, layout.encoding, report)
        movies, movie_lines = _read(directory, layout.movies, layout.encoding, report)
        ratings, rating_lines = _read(directory, layout.ratings, layout.encoding, report)
    with report.stage("validate"):
        user_reasons, users = _validate_users(users, layout)
        movie_reasons, movies = _validate_movies(movies, layout)
        rating_reasons, ratings = _validate_ratings(
            ratings, users=users[user_reasons.valid], movies=movies[movie_reasons.valid], prefix=prefix, layout=layout
        )
    report.duplicates = int(rating_reasons.reason.eq("duplicate").sum())
    users["external_id"] = prefix + _id_text(users["user"])
    movies["sku"] = prefix + _id_text(movies["movie"])

    with transaction.atomic():
        with report.stage("catalog_and_customers"):
            categories = _upsert_categories(movies[movie_reasons.valid], report=report)
            changed_movies = _upsert_movies(movies[movie_reasons.valid], categories, prefix=prefix, report=report)
            valid_ratings = ratings[rating_reasons.valid]
            changed_users = _upsert_users(
                users[user_reasons.valid], valid_ratings, layout=layout, prefix=prefix, report=report
            )
        flag_rejected(movie_reasons, movies["sku"], changed_movies.rejected)
        flag_rejected(user_reasons, users["external_id"], changed_users.rejected)
        rating_reasons.flag(~ratings["sku"].isin(list(changed_movies.objects)), "movie_refused")
        rating_reasons.flag(~ratings["external_id"].isin(list(changed_users.objects)), "user_refused")
        changed_movie_skus = changed_movies.created | changed_movies.updated
        changed_user_ids = changed_users.created | changed_users.updated
        movie_reasons.flag(movie_reasons.valid & ~movies["sku"].isin(changed_movie_skus), UNCHANGED)
        user_reasons.flag(user_reasons.valid & ~users["external_id"].isin(changed_user_ids), UNCHANGED)

        with report.stage("find_already_imported"):
            already = existing_keys(Interaction, "event_id", valid_ratings["event_id"].tolist())
            rating_reasons.flag(ratings["event_id"].isin(already), ALREADY_IMPORTED)
            new = ratings[rating_reasons.valid]
            rows = _interaction_rows(new)
        with report.stage("write_interactions"):
            written = insert_interactions(rows, progress=progress, label="movielens ratings")
            flag_rejected_rows(rating_reasons, rows, written)
        report.count_objects("interactions", created=written.inserted)

    for (file_name, _sep, _columns), reasons, lines in (
        (layout.users, user_reasons, user_lines),
        (layout.movies, movie_reasons, movie_lines),
        (layout.ratings, rating_reasons, rating_lines),
    ):
        reasons.reason = reasons.reason.where(reasons.reason.eq(""), file_name + ": " + reasons.reason)
        reasons.report_to(report, lines)
        report.imported += int(reasons.valid.sum())
    return report.finish()


def detect_layout(directory: Path) -> Layout:
    if not directory.is_dir():
        raise ValidationError(f"{directory} is not a directory")
    best: tuple[Layout, list[str]] | None = None
    for layout in (ML_100K, ML_1M):
        files = [layout.ratings[0], layout.movies[0], layout.users[0]]
        missing = [name for name in files if not (directory / name).is_file()]
        if not missing:
            return layout
        if best is None or len(missing) < len(best[1]):
            best = (layout, missing)
    layout, missing = best
    raise ValidationError(
        f"{directory} is not a MovieLens directory: missing {', '.join(missing)} (closest layout: {layout.name}; "
        f"ml-100k needs u.data, u.item, u.user; ml-1m needs ratings.dat, movies.dat, users.dat)"
    )


def _read(
    directory: Path, spec: tuple[str, str, list[str]], encoding: str, report: ImportReport
) -> tuple[pd.DataFrame, pd.Series]:
    """Split each line on the separator; lines with the wrong number of fields are reported, never parsed."""
    file_name, sep, columns = spec
    text = (directory / file_name).read_bytes().decode(encoding)
    rows: list[list[str]] = []
    lines: list[int] = []
    bad: list[int] = []
    nul: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if "\x00" in line:
            nul.append(number)
            continue
        fields = line.split(sep)
        if len(fields) != len(columns):
            if not rows and not bad:
                raise ValidationError(
                    f"{file_name} is not in the {len(columns)}-column {sep!r}-separated MovieLens format "
                    f"({', '.join(columns[:6])}{', ...' if len(columns) > 6 else ''}): line {number} has "
                    f"{len(fields)} field(s)"
                )
            bad.append(number)
            continue
        rows.append(fields)
        lines.append(number)
    report.rows_read += len(rows) + len(bad) + len(nul)
    report.skip(f"{file_name}: wrong_number_of_fields", bad)
    report.skip(f"{file_name}: nul_character", nul)
    report.details.setdefault("files", {})[file_name] = len(rows) + len(bad) + len(nul)
    frame = pd.DataFrame(rows, columns=columns, dtype=object) if rows else pd.DataFrame(columns=columns, dtype=object)
    return frame, pd.Series(lines, index=frame.index, dtype="int64")


def _integers(values: pd.Series) -> pd.Series:
    numbers = pd.to_numeric(values.str.strip(), errors="coerce").astype(float)
    return numbers.where(numbers == numbers.round())


def _id_text(ids: pd.Series) -> pd.Series:
    """ "196" for 196.0; ids out of range (already flagged) become "0" rather than overflowing."""
    return ids.where(ids.between(0, MAX_ID), 0).fillna(0).astype("int64").astype(str)


def _validate_users(users: pd.DataFrame, layout: Layout) -> tuple[Reasons, pd.DataFrame]:
    reasons = Reasons(users.index)
    users = users.assign(user=_integers(users["user_id"]), age_number=_integers(users["age"]))
    users["gender_code"] = users["gender"].str.strip().str.upper().map({"M": Gender.MALE, "F": Gender.FEMALE})
    reasons.flag(~users["user"].between(1, MAX_ID), "bad_user_id")
    if layout is ML_1M:
        reasons.flag(~users["age_number"].isin(list(AGE_GROUPS_1M)), "bad_age")
        occupation = _integers(users["occupation"])
        # An unknown code (25, -1) is that user's bad_occupation, not an IndexError for the whole file.
        known = dict(enumerate(OCCUPATIONS_1M))
        reasons.flag(~occupation.isin(list(known)), "bad_occupation")
        users["occupation_name"] = occupation.map(lambda code: known.get(int(code), "") if pd.notna(code) else "")
    else:
        reasons.flag(users["age_number"].isna() | ~users["age_number"].between(1, 120), "bad_age")
        users["occupation_name"] = users["occupation"].str.strip()
    reasons.flag(users["gender_code"].isna(), "bad_gender")
    reasons.flag(users["user"].duplicated(), "duplicate_user")
    return reasons, users


def _validate_movies(movies: pd.DataFrame, layout: Layout) -> tuple[Reasons, pd.DataFrame]:
    reasons = Reasons(movies.index)
    movies = movies.assign(movie=_integers(movies["movie_id"]), title=movies["title"].str.strip())
    reasons.flag(~movies["movie"].between(1, MAX_ID), "bad_movie_id")
    reasons.flag(movies["title"].eq(""), "missing_title")
    if layout is ML_1M:
        movies["genre_list"] = movies["genres"].map(
            lambda text: [genre for genre in text.strip().split("|") if genre and genre != "(no genres listed)"]
        )
    else:
        flags = movies[GENRES_100K].apply(lambda column: column.str.strip())
        reasons.flag(~flags.isin(["0", "1"]).all(axis=1), "bad_genre_flags")
        named = flags.eq("1").to_numpy()
        movies["genre_list"] = [[g for g, on in zip(GENRES_100K, row, strict=True) if on and g != "unknown"]
                                for row in named]  # fmt: skip
    reasons.flag(movies["movie"].duplicated(), "duplicate_movie")
    return reasons, movies


def _validate_ratings(
    ratings: pd.DataFrame, *, users: pd.DataFrame, movies: pd.DataFrame, prefix: str, layout: Layout
) -> tuple[Reasons, pd.DataFrame]:
    reasons = Reasons(ratings.index)
    user = _integers(ratings["user_id"])
    movie = _integers(ratings["movie_id"])
    rating = pd.to_numeric(ratings["rating"].str.strip(), errors="coerce")
    stamp = _integers(ratings["timestamp"])
    reasons.flag(~user.between(1, MAX_ID), "bad_user_id")
    reasons.flag(~movie.between(1, MAX_ID), "bad_movie_id")
    reasons.flag(rating.isna(), "bad_rating")
    # Seconds since 1970: beyond 2100 cannot be a rating yet (and would overflow); the API's rule does the rest.
    reasons.flag(stamp.isna() | stamp.lt(0) | stamp.gt(4_102_444_800), "bad_timestamp")
    reasons.flag(~rating.between(0.5, 5), "rating_out_of_range")
    reasons.flag(~user.isin(users["user"]), "unknown_user")
    reasons.flag(~movie.isin(movies["movie"]), "unknown_movie")
    stamp = stamp.where(reasons.valid, 0)
    frame = pd.DataFrame(
        {
            "external_id": prefix + _id_text(user),
            "sku": prefix + _id_text(movie),
            "value": rating.fillna(0.0),
            "occurred_at": pd.to_datetime(stamp.fillna(0).astype("int64"), unit="s", utc=True),
        },
        index=ratings.index,
    )
    flag_event_times(reasons, frame["occurred_at"].where(reasons.valid))
    ok = reasons.valid
    frame["event_id"] = content_event_ids(
        f"movielens:{layout.name}",
        [frame["external_id"], frame["sku"], frame["value"].astype(str), stamp.fillna(0).astype("int64").astype(str)],
    )
    duplicate = ok & frame["event_id"].where(ok).duplicated() & frame["event_id"].where(ok).notna()
    reasons.flag(duplicate, "duplicate")
    return reasons, frame


def _upsert_categories(movies: pd.DataFrame, *, report: ImportReport) -> dict[str, int]:
    """The parent "Movies" category and one child per genre; returns genre -> category id."""
    code, name = PARENT_CATEGORY
    parent = upsert_by_key(Category, key="code", records={code: {"name": name}})
    parent_id = parent.objects[code].pk
    genres = sorted({genre for genres in movies["genre_list"] for genre in genres})
    codes = {genre: f"{code}-{slugify(genre)[:80]}" for genre in genres}
    records = {codes[genre]: {"name": genre[:200], "parent_id": parent_id} for genre in genres}
    children = upsert_by_key(Category, key="code", records=records)
    report.count_objects(
        "categories",
        created=len(parent.created) + len(children.created),
        updated=len(parent.updated) + len(children.updated),
    )
    ids = ids_by_key(Category, "code", records)
    return {genre: ids[codes[genre]] for genre in genres}


def primary_genres(genre_lists: pd.Series) -> pd.Series:
    """Each movie's most specific genre: the one fewest movies share (ties: the first listed)."""
    counts = pd.Series([genre for genres in genre_lists for genre in genres]).value_counts()
    return genre_lists.map(lambda genres: min(genres, key=lambda genre: counts[genre]) if genres else None)


def _upsert_movies(
    movies: pd.DataFrame, categories: dict[str, int], *, prefix: str, report: ImportReport
) -> UpsertResult:
    primary = primary_genres(movies["genre_list"])
    records = {}
    for row, genre in zip(movies.itertuples(), primary, strict=True):
        attributes = {"movielens_id": int(row.movie), "genres": row.genre_list}
        year = re.search(r"\((\d{4})\)\s*$", row.title)
        if year:
            attributes["year"] = int(year.group(1))
        for name in ("release_date", "imdb_url"):
            value = getattr(row, name, "")
            if value and value.strip():
                attributes[name] = value.strip()
        records[row.sku] = {
            "name": row.title[:300],
            "category_id": categories.get(genre) if genre else None,
            "attributes": attributes,
            "is_stub": False,
        }
    result = upsert_by_key(Product, key="sku", records=records)
    report.count_objects("products", created=len(result.created), updated=len(result.updated))
    return result


def _upsert_users(
    users: pd.DataFrame, ratings: pd.DataFrame, *, layout: Layout, prefix: str, report: ImportReport
) -> UpsertResult:
    """Customers with gender, postal code and a birth year: the age subtracted from the year of their first rating."""
    first_year = ratings.groupby("external_id")["occurred_at"].min().dt.year
    default_year = int(ratings["occurred_at"].dt.year.median()) if len(ratings) else 2000
    records = {}
    for row in users.itertuples():
        attributes = {"movielens_id": int(row.user), "occupation": row.occupation_name, "zip": row.zip.strip()}
        if layout is ML_1M:
            group, age = AGE_GROUPS_1M[int(row.age_number)]
            attributes["age_group"] = group
        else:
            age = int(row.age_number)
        attributes["age"] = age
        birth_year = int(first_year.get(row.external_id, default_year)) - age
        records[row.external_id] = {
            "gender": row.gender_code,
            "birth_year": birth_year if 1900 <= birth_year <= 2100 else None,
            "postal_code": row.zip.strip()[:20],
            "attributes": attributes,
            "is_stub": False,
        }
    result = upsert_by_key(Customer, key="external_id", records=records)
    report.count_objects("customers", created=len(result.created), updated=len(result.updated))
    return result


def _interaction_rows(ratings: pd.DataFrame) -> pd.DataFrame:
    customers = ids_by_key(Customer, "external_id", ratings["external_id"].unique())
    products = ids_by_key(Product, "sku", ratings["sku"].unique())
    return pd.DataFrame(
        {
            "customer_id": ratings["external_id"].map(customers),
            "product_id": ratings["sku"].map(products),
            "kind": InteractionKind.RATING.value,
            "value": ratings["value"].astype(float),
            "quantity": np.ones(len(ratings), dtype="int64"),
            "amount": pd.Series(np.nan, index=ratings.index),
            "order_ref": "",
            "source": InteractionSource.IMPORT.value,
            "occurred_at": ratings["occurred_at"],
            "event_id": ratings["event_id"],
        },
        index=ratings.index,
    )
