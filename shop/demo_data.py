"""A synthetic shop for demos, tests and benchmarks: a catalog, customers with hidden personas and a year of events.

Pure numpy / pandas (no Django), vectorised, deterministic for a seed. `generate_shop(customers=N, seed=S)`
returns a `DemoShop` of four DataFrames; `shop.demo.services.write_demo_shop` stores it.

What makes the data useful rather than random:
- Each customer has a hidden persona (`customers.persona`, stored as `Customer.attributes["persona"]`) that sets
  when they are active, how often they order, how big and how expensive their baskets are, which categories they
  like, how often they return and rate things. Clustering ordinary RFM-style features recovers the personas.
- Each customer also has a taste group: a set of products its members favour, on top of a skewed popularity,
  so collaborative filtering has real signal.
- Every product has two fixed "bought together" partners (one in its own category, one in a complementary
  category) that often join it in the same order, so basket co-occurrence has real lift.
- Non-merchandise lines (postage under the free-shipping threshold, gift wrap, express delivery) appear in
  orders as they do in real shop exports.

The history covers the 365 days before `end` (exclusive; by default the moment it is generated, so the shop
looks alive on the day it is used). The data is the same for a seed up to that shift in time: pin `end` (tests do)
for the very same events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

HISTORY_DAYS = 365
DAY = 86_400

KINDS = ("view", "cart", "purchase", "return", "rating")
VIEW, CART, PURCHASE, RETURN, RATING = range(len(KINDS))
SOURCES = ("web", "app", "store")
CURRENCY = "EUR"
FREE_SHIPPING_FROM = 30.0
TASTE_GROUPS_PER_PERSONA = 2


@dataclass(frozen=True)
class Persona:
    """How one kind of customer behaves. Counts are means of gamma-Poisson draws (per-customer rate, then events)."""

    slug: str
    label: str
    share: float
    signup_days_ago: tuple[int, int]
    # The part of the year they are active in, in days before the end (clipped to after their signup).
    active_days_ago: tuple[int, int]
    orders: float
    orders_range: tuple[int, int]
    extra_items: float  # mean items per order beyond the first
    views: float  # browsing views beyond those leading to a purchase
    abandoned_carts: float
    price_tilt: float  # exponent on price relative to its category: < 0 favours cheap products
    categories: dict[str, float]
    discount_rate: float  # share of lines bought on a discount
    discount_depth: tuple[float, ...]
    multi_buy: float  # chance a line has quantity > 1
    return_rate: float
    rating_rate: float
    rating_mean: float
    view_seconds: float
    sources: tuple[float, float, float]  # web, app, store
    consents: tuple[float, float, float]  # email, sms, push
    birth_year: float


PERSONAS: tuple[Persona, ...] = (
    Persona(
        slug="bargain_hunter",
        label="Bargain hunters",
        share=0.24,
        signup_days_ago=(90, 1100),
        active_days_ago=(HISTORY_DAYS, 0),
        orders=6,
        orders_range=(4, 20),
        extra_items=0.2,
        views=3,
        abandoned_carts=0.8,
        price_tilt=-1.5,
        categories={"outlet": 0.55, "accessories": 0.25, "kitchen": 0.1, "beauty": 0.1},
        discount_rate=0.7,
        discount_depth=(0.2, 0.3, 0.4, 0.5),
        multi_buy=0.3,
        return_rate=0.02,
        rating_rate=0.08,
        rating_mean=3.5,
        view_seconds=25,
        sources=(0.55, 0.40, 0.05),
        consents=(0.85, 0.35, 0.45),
        birth_year=1984,
    ),
    Persona(
        slug="loyal_big_spender",
        label="Loyal big spenders",
        share=0.11,
        signup_days_ago=(400, 2000),
        active_days_ago=(HISTORY_DAYS, 0),
        orders=8,
        orders_range=(5, 30),
        extra_items=1.5,
        views=5,
        abandoned_carts=1,
        price_tilt=1.0,
        categories={"computing": 0.3, "audio": 0.3, "shoes": 0.25, "clothing": 0.15},
        discount_rate=0.05,
        discount_depth=(0.1,),
        multi_buy=0.1,
        return_rate=0.10,
        rating_rate=0.2,
        rating_mean=4.4,
        view_seconds=45,
        sources=(0.40, 0.45, 0.15),
        consents=(0.92, 0.40, 0.60),
        birth_year=1976,
    ),
    Persona(
        slug="lapsed",
        label="Lapsed customers",
        share=0.20,
        signup_days_ago=(450, 2000),
        active_days_ago=(HISTORY_DAYS, 210),
        orders=4,
        orders_range=(2, 15),
        extra_items=0.8,
        views=3,
        abandoned_carts=0.3,
        price_tilt=0.0,
        categories={"home-decor": 0.45, "kitchen": 0.35, "books": 0.2},
        discount_rate=0.2,
        discount_depth=(0.1, 0.2),
        multi_buy=0.15,
        return_rate=0.12,
        rating_rate=0.15,
        rating_mean=2.8,
        view_seconds=35,
        sources=(0.70, 0.15, 0.15),
        consents=(0.60, 0.15, 0.10),
        birth_year=1970,
    ),
    Persona(
        slug="new_customer",
        label="New customers",
        share=0.20,
        signup_days_ago=(1, 45),
        active_days_ago=(HISTORY_DAYS, 0),
        orders=1.3,
        orders_range=(1, 2),
        extra_items=0.8,
        views=5,
        abandoned_carts=1,
        price_tilt=0.0,
        categories={"beauty": 0.45, "clothing": 0.4, "accessories": 0.15},
        discount_rate=0.5,
        discount_depth=(0.15,),
        multi_buy=0.1,
        return_rate=0.03,
        rating_rate=0.2,
        rating_mean=4.0,
        view_seconds=30,
        sources=(0.35, 0.60, 0.05),
        consents=(0.80, 0.30, 0.55),
        birth_year=1996,
    ),
    Persona(
        slug="browser",
        label="Browsers who rarely buy",
        share=0.25,
        signup_days_ago=(60, 1100),
        active_days_ago=(HISTORY_DAYS, 0),
        orders=0.2,
        orders_range=(0, 1),
        extra_items=0.2,
        views=16,
        abandoned_carts=2.5,
        price_tilt=0.5,
        categories={"sports": 0.5, "books": 0.3, "audio": 0.2},
        discount_rate=0.1,
        discount_depth=(0.1, 0.2),
        multi_buy=0.05,
        return_rate=0.02,
        rating_rate=0.1,
        rating_mean=3.8,
        view_seconds=70,
        sources=(0.50, 0.50, 0.0),
        consents=(0.70, 0.10, 0.40),
        birth_year=1991,
    ),
)
PERSONA_SLUGS = tuple(p.slug for p in PERSONAS)


@dataclass(frozen=True)
class CategorySpec:
    code: str
    name: str
    parent: str | None = None
    share: float = 0.0  # share of the merchandise catalog; 0 for parents
    median_price: float = 0.0
    price_sigma: float = 0.5
    return_factor: float = 1.0
    complements: tuple[str, ...] = ()
    brands: tuple[str, ...] = ()
    nouns: tuple[str, ...] = ()
    adjectives: tuple[str, ...] = ()
    blurb: str = ""


CATEGORIES: tuple[CategorySpec, ...] = (
    CategorySpec("fashion", "Fashion"),
    CategorySpec("home", "Home & Living"),
    CategorySpec("electronics", "Electronics"),
    CategorySpec(
        "clothing",
        "Clothing",
        "fashion",
        0.16,
        35,
        0.5,
        1.8,
        ("accessories", "shoes"),
        ("Northwind", "Ashby & Co", "Fieldline", "Marlow"),
        ("T-Shirt", "Hoodie", "Jeans", "Chinos", "Summer Dress", "Blazer", "Knit Jumper", "Rain Jacket", "Polo"),
        ("Classic", "Slim-Fit", "Organic Cotton", "Relaxed", "Everyday", "Linen", "Vintage Wash", "Merino"),
        "Cut for everyday comfort and easy to care for.",
    ),
    CategorySpec(
        "shoes",
        "Shoes",
        "fashion",
        0.08,
        70,
        0.4,
        1.6,
        ("accessories", "sports"),
        ("Stride", "Cobbler Lane", "Trailmark"),
        ("Trainers", "Chelsea Boots", "Loafers", "Sandals", "Running Shoes", "Hiking Boots", "Slip-Ons"),
        ("Leather", "Suede", "Lightweight", "Waterproof", "Cushioned", "Canvas"),
        "Comfortable from the first day, with a durable sole.",
    ),
    CategorySpec(
        "accessories",
        "Accessories",
        "fashion",
        0.10,
        18,
        0.6,
        1.0,
        ("clothing",),
        ("Marlow", "Keel", "Ashby & Co"),
        ("Scarf", "Belt", "Wallet", "Beanie", "Sunglasses", "Tote Bag", "Socks (3-pack)", "Watch Strap"),
        ("Wool", "Leather", "Recycled", "Striped", "Minimal", "Patterned"),
        "The finishing touch for any outfit.",
    ),
    CategorySpec(
        "beauty",
        "Beauty",
        "fashion",
        0.08,
        16,
        0.5,
        0.5,
        ("beauty",),
        ("Lumière", "Fern & Fig", "Pure Botanics"),
        ("Face Serum", "Hand Cream", "Lip Balm", "Shampoo", "Body Lotion", "Eau de Toilette", "Face Mask"),
        ("Hydrating", "Vegan", "Fragrance-Free", "Citrus", "Rose", "Travel-Size"),
        "Dermatologically tested, cruelty-free.",
    ),
    CategorySpec(
        "kitchen",
        "Kitchen",
        "home",
        0.12,
        25,
        0.7,
        0.8,
        ("home-decor",),
        ("Hearth", "Copperleaf", "Oak & Iron"),
        ("Chef's Knife", "Frying Pan", "Mixing Bowls", "Cafetière", "Chopping Board", "Mug Set", "Teapot"),
        ("Stainless", "Cast-Iron", "Bamboo", "Stoneware", "Non-Stick", "Enamel"),
        "Built for daily cooking and dishwasher safe.",
    ),
    CategorySpec(
        "home-decor",
        "Home Decor",
        "home",
        0.12,
        40,
        0.6,
        0.8,
        ("kitchen", "home-decor"),
        ("Nook", "Willow House", "Hearth"),
        ("Cushion Cover", "Table Lamp", "Throw", "Vase", "Picture Frame", "Scented Candle", "Wall Mirror"),
        ("Velvet", "Ceramic", "Linen", "Rattan", "Brass", "Hand-Made"),
        "Adds warmth to any room.",
    ),
    CategorySpec(
        "audio",
        "Audio",
        "electronics",
        0.07,
        90,
        0.7,
        1.0,
        ("computing",),
        ("Sonara", "Volt", "Echo Lane"),
        ("Headphones", "Earbuds", "Bluetooth Speaker", "Soundbar", "Turntable", "DAC"),
        ("Wireless", "Noise-Cancelling", "Studio", "Portable", "Hi-Fi"),
        "Rich, balanced sound with a two-year warranty.",
    ),
    CategorySpec(
        "computing",
        "Computing",
        "electronics",
        0.07,
        150,
        0.8,
        1.0,
        ("audio", "computing"),
        ("Bitforge", "Volt", "Nimbus"),
        ("Laptop Stand", "Mechanical Keyboard", "Mouse", "Monitor", "USB-C Hub", "Webcam", "SSD 1TB"),
        ("Ergonomic", "Wireless", "Compact", "Pro", "4K", "Silent"),
        "Plug and play on every major system.",
    ),
    CategorySpec(
        "books",
        "Books",
        None,
        0.12,
        14,
        0.4,
        0.3,
        ("books",),
        ("Quayside Press", "Lantern Books", "Harbour House"),
        ("Novel", "Cookbook", "Travel Guide", "Biography", "Crime Thriller", "Poetry Collection", "Atlas"),
        ("Illustrated", "Paperback", "Hardback", "Bestselling", "Award-Winning"),
        "A reader favourite this season.",
    ),
    CategorySpec(
        "sports",
        "Sports & Outdoors",
        None,
        0.08,
        45,
        0.7,
        1.0,
        ("shoes", "clothing"),
        ("Trailmark", "Peak", "Fieldline"),
        ("Yoga Mat", "Water Bottle", "Backpack", "Tent", "Cycling Gloves", "Dumbbell Set", "Head Torch"),
        ("Lightweight", "Insulated", "Foldable", "Grippy", "All-Weather"),
        "Tested outdoors in every season.",
    ),
    CategorySpec(
        "outlet",
        "Outlet",
        None,
        0.10,
        8,
        0.5,
        0.6,
        ("outlet", "accessories"),
        ("Various",),
        ("Phone Case", "Tea Towels", "Notebook", "Candle", "Socks", "Storage Box", "Keyring", "Plant Pot"),
        ("Last-Season", "Clearance", "Value", "Multi-Pack", "End-of-Line"),
        "Reduced to clear while stocks last.",
    ),
)
CATEGORY_CODES = tuple(c.code for c in CATEGORIES)

# Lines that are not merchandise: kept for revenue, never recommended.
NON_MERCHANDISE = (
    ("POSTAGE", "Postage & packing", 4.95),
    ("GIFTWRAP", "Gift wrapping", 3.50),
    ("EXPRESS", "Express delivery surcharge", 7.95),
)

FIRST_NAMES_F = [
    "Emma",
    "Olivia",
    "Sophie",
    "Mia",
    "Hannah",
    "Laura",
    "Anna",
    "Julia",
    "Chloe",
    "Lucy",
    "Amelia",
    "Isla",
    "Grace",
    "Ella",
    "Freya",
    "Lena",
    "Marie",
    "Clara",
    "Sara",
    "Alice",
    "Zoe",
    "Ava",
    "Ines",
    "Nora",
    "Elena",
    "Eva",
    "Lotte",
    "Maja",
    "Ruby",
    "Ivy",
]
FIRST_NAMES_M = [
    "Oliver",
    "Jack",
    "Harry",
    "Noah",
    "Leo",
    "Lucas",
    "Paul",
    "Felix",
    "Max",
    "Ben",
    "Tom",
    "Daniel",
    "James",
    "Luca",
    "Elias",
    "Hugo",
    "Jonas",
    "Adam",
    "Louis",
    "Oscar",
    "Arthur",
    "Samuel",
    "Finn",
    "Theo",
    "David",
    "Mateo",
    "Liam",
    "Ethan",
    "Henry",
    "Jan",
]
LAST_NAMES = [
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Martin",
    "Bernard",
    "Dubois",
    "Moreau",
    "Laurent",
    "García",
    "Martínez",
    "López",
    "Rossi",
    "Russo",
    "Ferrari",
    "Jansen",
    "de Vries",
    "Bakker",
    "Murphy",
    "Kelly",
    "Walsh",
    "Novak",
    "Kowalski",
    "Nowak",
    "Andersen",
    "Nielsen",
    "Hansen",
    "Larsen",
    "Silva",
    "Santos",
    "Costa",
]
CITIES = (
    ("London", "United Kingdom", 0.14),
    ("Manchester", "United Kingdom", 0.06),
    ("Bristol", "United Kingdom", 0.04),
    ("Berlin", "Germany", 0.09),
    ("Hamburg", "Germany", 0.05),
    ("Munich", "Germany", 0.05),
    ("Paris", "France", 0.08),
    ("Lyon", "France", 0.04),
    ("Amsterdam", "Netherlands", 0.06),
    ("Rotterdam", "Netherlands", 0.03),
    ("Madrid", "Spain", 0.05),
    ("Barcelona", "Spain", 0.04),
    ("Milan", "Italy", 0.04),
    ("Rome", "Italy", 0.03),
    ("Dublin", "Ireland", 0.04),
    ("Copenhagen", "Denmark", 0.03),
    ("Warsaw", "Poland", 0.03),
    ("Lisbon", "Portugal", 0.03),
    ("Vienna", "Austria", 0.02),
)


@dataclass
class DemoShop:
    """The generated shop. Interactions refer to customers and products by their row position."""

    seed: int
    end: pd.Timestamp  # every event happened before this moment (UTC), and within HISTORY_DAYS of it
    categories: pd.DataFrame  # code, name, parent
    # sku, name, description, category, brand, price, currency, stock, is_active, is_merchandise, and as ground truth
    # for bought-together tests bundle_partner_a / bundle_partner_b (row positions of the two products most often
    # added to an order that starts with this one; -1 for fees). Not stored in the database.
    products: pd.DataFrame
    customers: pd.DataFrame  # external_id, name, email, gender, birth_year, city, country, signed_up_at, ...
    # customer, product (row positions), kind, value, quantity, amount, order (-1 for none), source, occurred_at
    interactions: pd.DataFrame

    def order_refs(self) -> pd.Series:
        """The order reference of each interaction ("" where it belongs to no order)."""
        order = self.interactions["order"].to_numpy()
        orders = int(order.max(initial=-1)) + 1
        refs = np.array([f"D{self.seed}-{n + 1:07d}" for n in range(orders)] + [""], dtype=object)
        return pd.Series(refs[order], index=self.interactions.index, name="order_ref")

    def event_id(self, position: int) -> str:
        """The idempotency key of the interaction at `position`; zero-padded so keys sort (and index) in order."""
        return self.event_ids(position, position + 1)[0]

    def event_ids(self, start: int, stop: int) -> list[str]:
        prefix = f"demo-{self.seed}-"
        return [f"{prefix}{n:08d}" for n in range(start + 1, stop + 1)]

    def interactions_with_keys(self) -> pd.DataFrame:
        """Interactions with external ids, skus, categories, order refs and event ids (convenient for small shops)."""
        frame = self.interactions.copy()
        frame.insert(0, "event_id", self.event_ids(0, len(frame)))
        frame.insert(1, "external_id", self.customers["external_id"].to_numpy()[frame["customer"].to_numpy()])
        frame.insert(2, "sku", self.products["sku"].to_numpy()[frame["product"].to_numpy()])
        frame.insert(3, "category", self.products["category"].to_numpy()[frame["product"].to_numpy()])
        frame["order_ref"] = self.order_refs()
        return frame


def external_id(seed: int, position: int) -> str:
    return f"demo{seed}-{position + 1:06d}"


def history_end(end: datetime | pd.Timestamp | None = None) -> pd.Timestamp:
    """The history's exclusive end as a UTC timestamp to the second: `end` (naive means UTC), or now."""
    stamp = pd.Timestamp.now(tz="UTC") if end is None else pd.Timestamp(end)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.floor("s")


def generate_shop(*, customers: int, seed: int, end: datetime | pd.Timestamp | None = None) -> DemoShop:
    """A synthetic shop with `customers` customers (about 20 interactions each) whose year of events ends at `end`
    (default: now). Deterministic for (customers, seed, end); another end shifts every time by the difference."""
    if customers < 1:
        raise ValueError("customers must be at least 1")
    end_at = history_end(end)
    end_s = int(end_at.timestamp())
    rng = np.random.default_rng(seed)
    categories = _categories()
    products = _products(rng, seed=seed, n_merchandise=min(3000, 300 + customers // 100))
    people, taste, signup = _customers(rng, seed=seed, n=customers, end_s=end_s)
    interactions = _interactions(rng, products=products, customers=people, taste=taste, signup=signup, end_s=end_s)
    return DemoShop(
        seed=seed,
        end=end_at,
        categories=categories,
        products=products.drop(columns=["popularity", "quality", "relative_price"]).rename(
            columns={"partner_a": "bundle_partner_a", "partner_b": "bundle_partner_b"}
        ),
        customers=people,
        interactions=interactions,
    )


# --- catalog -------------------------------------------------------------------------------------------------


def _categories() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "code": [c.code for c in CATEGORIES],
            "name": [c.name for c in CATEGORIES],
            "parent": [c.parent for c in CATEGORIES],
        }
    )


def _leaves() -> list[CategorySpec]:
    return [c for c in CATEGORIES if c.share > 0]


# Told apart by colour when brand, adjective and noun come out the same (a shop lists each product under its own name).
FINISHES = ("Charcoal", "Sand", "Navy", "Olive", "Rust", "Ivory", "Slate", "Moss", "Plum", "Ochre")


def _distinct(names: pd.Series) -> pd.Series:
    """The second and later products of a repeated name get a finish after it: "Volt Wireless Soundbar, Sand"."""
    repeat = names.groupby(names).cumcount().to_numpy()
    suffix = [
        f", {FINISHES[(k - 1) % len(FINISHES)]}" + (f" {(k - 1) // len(FINISHES) + 1}" if k > len(FINISHES) else "")
        if k
        else ""
        for k in repeat
    ]
    return names + suffix


def _products(rng: np.random.Generator, *, seed: int, n_merchandise: int) -> pd.DataFrame:
    leaves = _leaves()
    shares = np.array([c.share for c in leaves])
    counts = np.maximum(np.floor(shares / shares.sum() * n_merchandise).astype(int), 5)
    counts[np.argmax(shares)] += max(n_merchandise - counts.sum(), 0)
    rows: dict[str, list] = {k: [] for k in ("name", "description", "category", "brand", "price", "relative_price")}
    for spec, count in zip(leaves, counts, strict=True):
        brand = rng.choice(spec.brands, size=count)
        adjective = rng.choice(spec.adjectives, size=count)
        noun = rng.choice(spec.nouns, size=count)
        relative = np.clip(rng.lognormal(0.0, spec.price_sigma, size=count), 0.4, 3.0)  # no €2 tents
        price = np.maximum(np.floor(spec.median_price * relative), 1) - 0.01
        for b, a, n, p, r in zip(brand, adjective, noun, price, relative, strict=True):
            rows["name"].append(f"{b} {a} {n}")
            rows["description"].append(f"{a} {n.lower()} by {b}. {spec.blurb}")
            rows["category"].append(spec.code)
            rows["brand"].append(str(b))
            rows["price"].append(round(float(p), 2))
            rows["relative_price"].append(float(r))
    frame = pd.DataFrame(rows)
    frame["name"] = _distinct(frame["name"])
    n = len(frame)
    frame.insert(0, "sku", [f"D{seed}-{i + 1:05d}" for i in range(n)])
    frame["currency"] = CURRENCY
    stock = rng.integers(5, 400, size=n).astype("float64")
    stock[rng.random(n) < 0.04] = 0  # a few sold out
    frame["stock"] = pd.array(stock.astype("int64"), dtype="Int64")
    frame["is_active"] = rng.random(n) >= 0.03  # a few discontinued
    frame["is_merchandise"] = True
    # Hidden drivers of behaviour: a skewed popularity and a quality that moves ratings.
    frame["popularity"] = rng.lognormal(0.0, 1.1, size=n)
    frame["quality"] = rng.normal(0.0, 0.5, size=n)
    partner_a, partner_b = _bundle_partners(rng, frame)
    frame["partner_a"] = partner_a
    frame["partner_b"] = partner_b

    fees = pd.DataFrame(
        {
            "sku": [f"D{seed}-{code}" for code, _, _ in NON_MERCHANDISE],
            "name": [name for _, name, _ in NON_MERCHANDISE],
            "description": [f"{name}; charged per order." for _, name, _ in NON_MERCHANDISE],
            "category": [None] * len(NON_MERCHANDISE),
            "brand": [""] * len(NON_MERCHANDISE),
            "price": [price for _, _, price in NON_MERCHANDISE],
            "relative_price": 1.0,
            "currency": CURRENCY,
            "stock": pd.array([None] * len(NON_MERCHANDISE), dtype="Int64"),
            "is_active": True,
            "is_merchandise": False,
            "popularity": 0.0,
            "quality": 0.0,
            "partner_a": -1,
            "partner_b": -1,
        }
    )
    return pd.concat([frame, fees], ignore_index=True)


def _bundle_partners(rng: np.random.Generator, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Two fixed partners per product: one from its own category, one from a complementary one."""
    n = len(frame)
    category = frame["category"].to_numpy()
    popularity = frame["popularity"].to_numpy()
    by_category = {code: np.flatnonzero(category == code) for code in CATEGORY_CODES}
    partner_a = np.empty(n, dtype=np.int64)
    partner_b = np.empty(n, dtype=np.int64)
    for spec in _leaves():
        members = by_category[spec.code]
        # Popular products are more likely partners, as in real baskets.
        weights = popularity[members] / popularity[members].sum()
        own = rng.choice(members, size=len(members), p=weights)
        clash = own == members
        own[clash] = members[(np.searchsorted(members, members[clash]) + 1) % len(members)]
        partner_a[members] = own
        complement = np.concatenate([by_category[c] for c in spec.complements])
        weights = popularity[complement] / popularity[complement].sum()
        other = rng.choice(complement, size=len(members), p=weights)
        clash = other == members
        other[clash] = partner_a[members][clash]
        partner_b[members] = other
    return partner_a, partner_b


# --- customers -----------------------------------------------------------------------------------------------


def _exact_assignment(rng: np.random.Generator, shares: np.ndarray, n: int) -> np.ndarray:
    """Labels in exact proportion (largest remainder), shuffled; every label present once n >= len(shares)."""
    raw = shares / shares.sum() * n
    counts = np.floor(raw).astype(int)
    counts[np.argsort(-(raw - counts), kind="stable")[: n - counts.sum()]] += 1
    if n >= len(shares):
        for i in np.flatnonzero(counts == 0):
            counts[i] += 1
            counts[np.argmax(counts)] -= 1
    return rng.permutation(np.repeat(np.arange(len(shares)), counts))


def _customers(
    rng: np.random.Generator, *, seed: int, n: int, end_s: int
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    persona = _exact_assignment(rng, np.array([p.share for p in PERSONAS]), n)
    lo = np.array([p.signup_days_ago[0] for p in PERSONAS], dtype=float)[persona]
    hi = np.array([p.signup_days_ago[1] for p in PERSONAS], dtype=float)[persona]
    signup = (end_s - (lo + rng.random(n) * (hi - lo)) * DAY).astype(np.int64)

    u = rng.random(n)
    gender = np.select([u < 0.51, u < 0.95, u < 0.96], ["f", "m", "o"], "")
    first_f = rng.choice(FIRST_NAMES_F, size=n)
    first_m = rng.choice(FIRST_NAMES_M, size=n)
    first = np.where(gender == "f", first_f, np.where(gender == "m", first_m, np.where(u < 0.98, first_f, first_m)))
    last = rng.choice(LAST_NAMES, size=n)
    domains = np.array(["example.com", "example.org", "example.net"])[rng.integers(0, 3, size=n)]
    names = [f"{f} {s}" for f, s in zip(first, last, strict=True)]
    emails = [
        f"{f.lower()}.{s.lower().replace(' ', '')}{i + 1}@{d}"
        for i, (f, s, d) in enumerate(zip(first, last, domains, strict=True))
    ]
    emails = [e.encode("ascii", "ignore").decode() for e in emails]

    year_mean = np.array([p.birth_year for p in PERSONAS])[persona]
    birth_year = np.clip(np.round(rng.normal(year_mean, 9)), 1935, 2007)
    birth = pd.array(birth_year.astype("int64"), dtype="Int64")
    birth[rng.random(n) < 0.1] = pd.NA

    city_weights = np.array([w for _, _, w in CITIES])
    city = rng.choice(len(CITIES), size=n, p=city_weights / city_weights.sum())

    consent_p = np.array([p.consents for p in PERSONAS])[persona]
    consent = rng.random((n, 3)) < consent_p
    # Consent was given or declined at sign-up; some changed their mind since.
    changed = signup + (rng.random(n) < 0.15) * (rng.random(n) * (end_s - signup)).astype(np.int64)

    # Mostly one of the persona's own taste groups (products they favour), sometimes any other group.
    own = persona * TASTE_GROUPS_PER_PERSONA + rng.integers(0, TASTE_GROUPS_PER_PERSONA, size=n)
    stray = rng.integers(0, len(PERSONAS) * TASTE_GROUPS_PER_PERSONA, size=n)
    taste = persona * len(PERSONAS) * TASTE_GROUPS_PER_PERSONA + np.where(rng.random(n) < 0.15, stray, own)

    frame = pd.DataFrame(
        {
            "external_id": [external_id(seed, i) for i in range(n)],
            "name": names,
            "email": emails,
            "gender": gender,
            "birth_year": birth,
            "city": [CITIES[c][0] for c in city],
            "country": [CITIES[c][1] for c in city],
            "signed_up_at": pd.to_datetime(signup, unit="s", utc=True),
            "email_consent": consent[:, 0],
            "sms_consent": consent[:, 1],
            "push_consent": consent[:, 2],
            "consent_changed_at": pd.to_datetime(changed, unit="s", utc=True),
            "persona": pd.Categorical.from_codes(persona, PERSONA_SLUGS),
        }
    )
    return frame, taste, signup


# --- events --------------------------------------------------------------------------------------------------


def _gamma_poisson(rng: np.random.Generator, mean: np.ndarray, shape: float = 6.0) -> np.ndarray:
    """Counts whose per-customer rate varies (coefficient of variation 1/sqrt(shape)) around the persona's mean."""
    rate = rng.gamma(shape, np.maximum(mean, 1e-9) / shape)
    return rng.poisson(rate)


def _pick_products(
    rng: np.random.Generator, group: np.ndarray, distributions: np.ndarray, *, flatten: float = 1.0
) -> np.ndarray:
    """A product for each event, drawn from the distribution of the event's taste group."""
    out = np.empty(len(group), dtype=np.int64)
    for g in range(len(distributions)):
        idx = np.flatnonzero(group == g)
        if len(idx):
            p = distributions[g] ** flatten
            out[idx] = rng.choice(len(p), size=len(idx), p=p / p.sum())
    return out


def _taste_distributions(rng: np.random.Generator, products: pd.DataFrame) -> np.ndarray:
    """Product-choice probabilities per (persona, taste group): popularity x the persona's categories and prices
    x the group's favourite products. Row `persona * groups + group`."""
    n = len(products)
    merch = products["is_merchandise"].to_numpy()
    category = products["category"].to_numpy()
    popularity = products["popularity"].to_numpy()
    relative = products["relative_price"].to_numpy()
    groups = len(PERSONAS) * TASTE_GROUPS_PER_PERSONA
    favourites = 1.0 + 5.0 * (rng.random((groups, n)) < 0.1)
    out = np.zeros((len(PERSONAS) * groups, n))
    for pi, persona in enumerate(PERSONAS):
        liking = np.array([persona.categories.get(c, 0.01) for c in category])
        base = popularity * liking * relative**persona.price_tilt * merch
        weights = base * favourites
        out[pi * groups : (pi + 1) * groups] = weights / weights.sum(axis=1, keepdims=True)
    return out


def _uniform_times(rng: np.random.Generator, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    return start + (rng.random(len(start)) * np.maximum(end - start, 1)).astype(np.int64)


def _interactions(
    rng: np.random.Generator,
    *,
    products: pd.DataFrame,
    customers: pd.DataFrame,
    taste: np.ndarray,
    signup: np.ndarray,
    end_s: int,
) -> pd.DataFrame:
    n = len(customers)
    persona = customers["persona"].cat.codes.to_numpy().astype(np.int64)
    param = {
        name: np.array([getattr(p, name) for p in PERSONAS], dtype=float)
        for name in (
            "orders",
            "extra_items",
            "views",
            "abandoned_carts",
            "discount_rate",
            "multi_buy",
            "return_rate",
            "rating_rate",
            "rating_mean",
            "view_seconds",
        )
    }
    start = np.maximum(signup, end_s - np.array([p.active_days_ago[0] for p in PERSONAS])[persona] * DAY)
    end = end_s - np.array([p.active_days_ago[1] for p in PERSONAS])[persona] * DAY
    end = np.maximum(end, start + 3600)
    distributions = _taste_distributions(rng, products)
    price = products["price"].to_numpy()
    merch_count = int(products["is_merchandise"].sum())
    partners = products[["partner_a", "partner_b"]].to_numpy()
    quality = products["quality"].to_numpy()
    return_factor = _return_factor(products)
    source_p = np.array([p.sources for p in PERSONAS])
    preferred_source = _choose_rows(rng, source_p[persona])

    # Orders: how many per customer, when, how many lines each.
    lo = np.array([p.orders_range[0] for p in PERSONAS])[persona]
    hi = np.array([p.orders_range[1] for p in PERSONAS])[persona]
    n_orders = np.clip(_gamma_poisson(rng, param["orders"][persona]), lo, hi)
    order_customer = np.repeat(np.arange(n), n_orders)
    order_time = _uniform_times(rng, start[order_customer], end[order_customer])
    order_source = np.where(
        rng.random(len(order_customer)) < 0.85,
        preferred_source[order_customer],
        rng.integers(0, 3, len(order_customer)),
    )
    lines_per_order = 1 + np.minimum(rng.poisson(param["extra_items"][persona][order_customer]), 9)
    line_order = np.repeat(np.arange(len(order_customer)), lines_per_order)
    line_customer = order_customer[line_order]
    line_position = np.arange(len(line_order)) - np.repeat(
        np.cumsum(lines_per_order) - lines_per_order, lines_per_order
    )
    line_product = _pick_products(rng, taste[line_customer], distributions)
    # Later lines often complete the first product's bundle.
    first_product = line_product[np.repeat(np.cumsum(lines_per_order) - lines_per_order, lines_per_order)]
    bundled = (line_position > 0) & (rng.random(len(line_order)) < 0.55)
    which = rng.integers(0, 2, size=len(line_order))
    line_product = np.where(bundled, partners[first_product, which], line_product)
    keep = ~pd.DataFrame({"o": line_order, "p": line_product}).duplicated().to_numpy()
    line_order, line_customer, line_product = line_order[keep], line_customer[keep], line_product[keep]
    line_persona = persona[line_customer]
    quantity = 1 + (rng.random(len(line_order)) < param["multi_buy"][line_persona]) * (
        1 + rng.poisson(0.4, len(line_order))
    )
    discounted = rng.random(len(line_order)) < param["discount_rate"][line_persona]
    depth = np.zeros(len(line_order))
    for pi, p in enumerate(PERSONAS):
        idx = np.flatnonzero(discounted & (line_persona == pi))
        depth[idx] = rng.choice(p.discount_depth, size=len(idx))
    amount = np.round(price[line_product] * quantity * (1 - depth), 2)
    line_time = order_time[line_order]

    # Fees: postage below the free-shipping threshold, sometimes gift wrap or express delivery.
    order_total = np.bincount(line_order, weights=amount, minlength=len(order_customer))
    fee_sku = {code: merch_count + i for i, (code, _, _) in enumerate(NON_MERCHANDISE)}
    # Postage is charged on small delivered orders; orders placed in a store are not delivered.
    fee_orders = [np.flatnonzero((order_total < FREE_SHIPPING_FROM) & (order_source != 2))]
    fee_products = [np.full(len(fee_orders[0]), fee_sku["POSTAGE"])]
    for code, chance in (("GIFTWRAP", 0.06), ("EXPRESS", 0.05)):
        chosen = np.flatnonzero(rng.random(len(order_customer)) < chance * (order_total >= 60))
        fee_orders.append(chosen)
        fee_products.append(np.full(len(chosen), fee_sku[code]))
    fee_order = np.concatenate(fee_orders)
    fee_product = np.concatenate(fee_products)

    parts: list[dict[str, np.ndarray]] = []
    parts.append(
        _part(line_customer, line_product, PURCHASE, line_time, quantity=quantity, amount=amount, order=line_order)
    )
    parts.append(
        _part(
            order_customer[fee_order],
            fee_product,
            PURCHASE,
            order_time[fee_order],
            amount=price[fee_product],
            order=fee_order,
        )
    )

    # The path to a purchase: usually a view, often an add-to-cart, shortly before the order.
    viewed = np.flatnonzero(rng.random(len(line_order)) < 0.4)
    view_time = np.maximum(line_time[viewed] - rng.integers(300, 2 * DAY, len(viewed)), start[line_customer[viewed]])
    parts.append(
        _part(
            line_customer[viewed],
            line_product[viewed],
            VIEW,
            view_time,
            value=_view_seconds(rng, param["view_seconds"][line_persona[viewed]]),
        )
    )
    carted = np.flatnonzero(rng.random(len(line_order)) < 0.4)
    parts.append(
        _part(
            line_customer[carted],
            line_product[carted],
            CART,
            np.maximum(line_time[carted] - rng.integers(60, 3600, len(carted)), start[line_customer[carted]]),
            quantity=quantity[carted],
        )
    )

    # Browsing that led nowhere (yet), and abandoned carts.
    n_views = _gamma_poisson(rng, param["views"][persona])
    view_customer = np.repeat(np.arange(n), n_views)
    parts.append(
        _part(
            view_customer,
            _pick_products(rng, taste[view_customer], distributions, flatten=0.8),
            VIEW,
            _uniform_times(rng, start[view_customer], end[view_customer]),
            value=_view_seconds(rng, param["view_seconds"][persona[view_customer]]),
        )
    )
    n_abandoned = rng.poisson(param["abandoned_carts"][persona])
    cart_customer = np.repeat(np.arange(n), n_abandoned)
    cart_product = _pick_products(rng, taste[cart_customer], distributions)
    cart_time = _uniform_times(rng, start[cart_customer], end[cart_customer])
    parts.append(_part(cart_customer, cart_product, CART, cart_time))

    # Returns, a few days to a month after the order, for the same quantity and amount.
    returned = rng.random(len(line_order)) < param["return_rate"][line_persona] * return_factor[line_product]
    return_time = line_time + rng.integers(3 * DAY, 30 * DAY, len(line_order))
    r = np.flatnonzero(returned & (return_time < end_s))
    parts.append(
        _part(
            line_customer[r],
            line_product[r],
            RETURN,
            return_time[r],
            quantity=quantity[r],
            amount=amount[r],
            order=line_order[r],
        )
    )

    # Ratings: more likely and lower after a return; nudged by the product's hidden quality.
    rated = rng.random(len(line_order)) < param["rating_rate"][line_persona] * np.where(returned, 1.5, 1.0)
    rating_time = line_time + rng.integers(4 * DAY, 40 * DAY, len(line_order))
    rr = np.flatnonzero(rated & (rating_time < end_s))
    stars = rng.normal(param["rating_mean"][line_persona[rr]] + quality[line_product[rr]] - 1.5 * returned[rr], 0.7)
    parts.append(
        _part(line_customer[rr], line_product[rr], RATING, rating_time[rr], value=np.clip(np.round(stars), 1, 5))
    )

    events = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    # Order-bound events share the order's channel; the rest mostly use the customer's preferred one.
    order = events["order"]
    source = np.where(
        rng.random(len(order)) < 0.85, preferred_source[events["customer"]], rng.integers(0, 3, len(order))
    )
    source = np.where(order >= 0, order_source[np.maximum(order, 0)], source)
    source = np.where(events["kind"] == RETURN, 0, source)  # returns are booked through the web portal

    sort = np.lexsort((events["kind"], events["time"], events["customer"]))
    order = order[sort]
    # Order numbers in the order they appear (customer by customer, in time).
    has_order = order >= 0
    renumbered = np.full(len(order), -1, dtype=np.int64)
    renumbered[has_order] = pd.factorize(order[has_order])[0]
    return pd.DataFrame(
        {
            "customer": events["customer"][sort].astype(np.int32),
            "product": events["product"][sort].astype(np.int32),
            "kind": pd.Categorical.from_codes(events["kind"][sort], KINDS),
            "value": events["value"][sort],
            "quantity": events["quantity"][sort].astype(np.int32),
            "amount": events["amount"][sort],
            "order": renumbered,
            "source": pd.Categorical.from_codes(source[sort], SOURCES),
            "occurred_at": pd.to_datetime(events["time"][sort], unit="s", utc=True),
        }
    )


def _part(
    customer: np.ndarray,
    product: np.ndarray,
    kind: int,
    time: np.ndarray,
    *,
    value: np.ndarray | None = None,
    quantity: np.ndarray | None = None,
    amount: np.ndarray | None = None,
    order: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    m = len(customer)
    return {
        "customer": np.asarray(customer, dtype=np.int64),
        "product": np.asarray(product, dtype=np.int64),
        "kind": np.full(m, kind, dtype=np.int8),
        "time": np.asarray(time, dtype=np.int64),
        "value": np.full(m, np.nan) if value is None else np.asarray(value, dtype=float),
        "quantity": np.ones(m, dtype=np.int64) if quantity is None else np.asarray(quantity, dtype=np.int64),
        "amount": np.full(m, np.nan) if amount is None else np.asarray(amount, dtype=float),
        "order": np.full(m, -1, dtype=np.int64) if order is None else np.asarray(order, dtype=np.int64),
    }


def _view_seconds(rng: np.random.Generator, mean: np.ndarray) -> np.ndarray:
    return np.round(rng.lognormal(np.log(mean), 0.7))


def _return_factor(products: pd.DataFrame) -> np.ndarray:
    factor = {c.code: c.return_factor for c in CATEGORIES}
    return products["category"].map(factor).fillna(0.0).to_numpy(dtype=float)


def _choose_rows(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """One category per row of a probability matrix."""
    cumulative = probabilities.cumsum(axis=1)
    u = rng.random(len(probabilities))[:, None] * cumulative[:, -1:]
    return (u >= cumulative).sum(axis=1)
