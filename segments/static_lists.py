"""Static segments: customer ids uploaded as a CSV file."""

from __future__ import annotations

import csv
from collections.abc import Iterable

ID_COLUMNS = ("external_id", "customer_id", "customerid", "customer", "id")
MAX_IDS = 1_000_000


def external_ids_from_csv(lines: Iterable[str]) -> list[str]:
    """The customer ids of a CSV: the column named external_id / customer_id / customer / id if the first
    row is a header naming one, else the first column. Blank cells dropped, order kept, duplicates removed."""
    rows = csv.reader(lines)
    first = next(rows, None)
    if first is None:
        raise ValueError("the file is empty")
    header = [cell.strip().lower().replace(" ", "_") for cell in first]
    column = next((header.index(name) for name in ID_COLUMNS if name in header), None)
    ids: list[str] = []
    if column is None:
        column = 0
        ids.append(first[0].strip() if first else "")
    for row in rows:
        if len(row) > column:
            ids.append(row[column].strip())
        if len(ids) > MAX_IDS:
            raise ValueError(f"more than {MAX_IDS:,} ids")
    result = list(dict.fromkeys(i for i in ids if i))
    if not result:
        raise ValueError("no customer ids found")
    return result
