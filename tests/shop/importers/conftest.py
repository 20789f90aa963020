"""Small files in the real formats, written by the tests."""

import csv
import gzip
from pathlib import Path

import pytest

RETAIL_HEADER = [
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
]
RETAIL_II_HEADER = ["Invoice", "StockCode", "Description", "Quantity", "InvoiceDate", "Price", "Customer ID", "Country"]

HEART = "WHITE HANGING HEART T-LIGHT HOLDER"
UK = "United Kingdom"
# Line numbers below count the header as line 1.
RETAIL_ROWS = [
    ["536365", "85123A", HEART, "6", "2010-12-01 08:26:00", "2.55", "17850", UK],  # 2
    ["536365", "71053", "WHITE METAL LANTERN", "6", "2010-12-01 08:26:00", "3.39", "17850", UK],  # 3
    ["536366", "85123A", HEART, "2", "2011-07-01 10:00:00", "2.65", "13047", "France"],  # 4
    ["536366", "POST", "POSTAGE", "1", "2011-07-01 10:00:00", "18.00", "13047", "France"],  # 5
    ["C536379", "85123A", HEART, "-1", "2011-07-02 09:41:00", "2.55", "13047", "France"],  # 6
    ["536365", "71053", "WHITE METAL LANTERN", "6", "2010-12-01 08:26:00", "3.39", "17850", UK],  # 7: line 3 again
    ["536414", "22139", "RETROSPOT TEA SET", "56", "2010-12-01 11:52:00", "1.25", "", UK],  # 8 no customer
    ["536367", "22960", "JAM MAKING SET", "3", "2010-12-01 12:00:00", "0", "13047", "France"],  # 9 zero price
    ["536368", "22961", "JAM MAKING SET PRINTED", "-2", "2010-12-01 12:00:00", "1.45", "13047", "France"],  # 10 -2
    ["536369", "22962", "GLASS JAR", "abc", "2010-12-01 12:00:00", "1.45", "13047", "France"],  # 11 bad quantity
    ["536370", "22963", "GLASS JAR PEACOCK", "1", "not a date", "1.45", "13047", "France"],  # 12 bad date
    ["536371", "", "NO CODE", "1", "2010-12-01 12:00:00", "1.45", "13047", "France"],  # 13 no stock code
    ["536372", "BANK CHARGES", "Bank Charges", "1", "2011-01-05 10:00:00", "15.00", "12346", UK],  # 14
]  # fmt: skip


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def retail_csv(tmp_path) -> Path:
    return write_csv(tmp_path / "retail.csv", RETAIL_HEADER, RETAIL_ROWS)
