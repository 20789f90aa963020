"""The serving path: the active model, the catalog and a feed of new events in memory; customers' lists per request.

A request for a customer the model knows costs one indexed query: the customer by external id and their
precomputed top-N list of the active run (recommender.serving.lists), read together; the list is filtered
against the in-memory catalog (active, in stock, merchandise, category). Nothing per customer is held in
the process, so its memory does not grow with the number of customers. Every RECOMMENDER_REFRESH_SECONDS
(default 1 s) one request per process refreshes what may have changed: which run is active (a promoted or
rolled-back model is loaded without a restart), which customers have events newer than the model (read
incrementally by interaction id), and — every RECOMMENDER_CATALOG_REFRESH_SECONDS (default 2 s) — the
catalog's sellable products. A customer with newer events is scored from their CURRENT history (fold-in:
one query), so what they did shows up without a retrain; so is every customer of a run whose lists are not
in the database (trained before they were, or pruned).
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from django.db import connection

from recommender.models import PrecomputedList, TrainingRun
from recommender.serving.artifact import read_artifact
from recommender.serving.conf import setting
from recommender.serving.explain import BECAUSE_KINDS, KIND_CODES, because_items
from recommender.serving.lists import CustomerList, unpack_list
from shop.models import Category, Customer, Interaction, Product
from shop.selectors import category_by_name_or_code

logger = logging.getLogger(__name__)

PRODUCT = Product._meta.db_table
CUSTOMER = Customer._meta.db_table
INTERACTION = Interaction._meta.db_table
CATEGORY = Category._meta.db_table
RUN = TrainingRun._meta.db_table
LISTS = PrecomputedList._meta.db_table

CUSTOMER_SQL = f"SELECT id, NULL FROM {CUSTOMER} WHERE external_id = %s"
# The customer and their list in the active run, in one lookup (the list absent: not in the model).
CUSTOMER_LIST_SQL = (
    f"SELECT c.id, l.payload FROM {CUSTOMER} c LEFT JOIN {LISTS} l ON l.customer_id = c.id AND l.run_id = %s "
    "WHERE c.external_id = %s"
)
# The same for many customers at once (prefetch_lists).
CUSTOMERS_SQL = f"SELECT external_id, id, NULL FROM {CUSTOMER} WHERE external_id IN ({{}})"
CUSTOMERS_LISTS_SQL = (
    f"SELECT c.external_id, c.id, l.payload FROM {CUSTOMER} c "
    f"LEFT JOIN {LISTS} l ON l.customer_id = c.id AND l.run_id = %s WHERE c.external_id IN ({{}})"
)
CATALOG_SQL = f"SELECT id, sku, name, category_id, is_active, is_merchandise, stock, is_stub FROM {PRODUCT}"
LAST_EVENT_SQL = f"SELECT MAX(id) FROM {INTERACTION}"
NEW_EVENTS_SQL = f"SELECT DISTINCT customer_id FROM {INTERACTION} WHERE id > %s AND id <= %s"
HISTORY_SQL = (
    f"SELECT i.customer_id, i.product_id, i.kind, i.value, i.quantity, i.occurred_at, p.is_merchandise "
    f"FROM {INTERACTION} i JOIN {PRODUCT} p ON p.id = i.product_id WHERE i.customer_id = %s "
    "ORDER BY i.occurred_at DESC, i.id DESC LIMIT %s"
)
BOUGHT_SQL = f"SELECT DISTINCT product_id FROM {INTERACTION} WHERE customer_id = %s AND kind IN ({{}})"
ACTIVE_RUN_SQL = f"SELECT id, artifact_path, artifact_sha256, lists_published_at FROM {RUN} WHERE is_active"
# The per-request lookups in SQLite's own placeholder style (Django's SQLite cursor converts on every call).
_QMARK = {sql: sql.replace("%s", "?") for sql in (CUSTOMER_SQL, CUSTOMER_LIST_SQL)}
HISTORY_LIMIT = 500
EVENT_ID_OVERLAP = 1000


# A candidate is a plain tuple (product id, score, reason code, reason argument): cheap to make in
# bulk; the reason's text is built only for the few that are served.
Candidate = tuple


@dataclass
class ServingState:
    """One model's serving data (or, with run_id None, the catalog alone: everyone gets popular products)."""

    run_id: int | None
    # Whether the run's precomputed lists are in the database (else known customers are scored by fold-in).
    lists_published: bool = False
    algorithm: str = "popularity"
    max_interaction_id: int = 0
    model: object | None = None
    bought_together: object | None = None
    item_product_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    item_products: list[int] = field(default_factory=list)
    product_item: dict[int, int] = field(default_factory=dict)
    popular: list[int] = field(default_factory=list)  # product ids
    trending: list[int] = field(default_factory=list)
    segment_popular: dict[int, list[int]] = field(default_factory=dict)
    exclude_kinds: tuple[str, ...] = ("purchase",)
    # catalog: product id -> (sku, name, category id); sku -> product id; category code -> id
    catalog: dict[int, tuple[str, str, int | None]] = field(default_factory=dict)
    sellable: frozenset[int] = frozenset()  # active, in stock (or untracked), merchandise, not a stub
    catalog_at: float = 0.0
    reasons: dict[tuple[int, int], str] = field(default_factory=dict)  # rendered "because you ..." texts
    # Customers with events newer than the model, and the newest event id read so far.
    changed_customers: frozenset[int] = frozenset()
    last_event_id: int = 0
    sku_product: dict[str, int] = field(default_factory=dict)
    category_ids: dict[str, int] = field(default_factory=dict)
    category_names: dict[int, str] = field(default_factory=dict)


_lock = threading.Lock()
_state: ServingState | None = None
_checked_at = 0.0


def reset() -> None:
    """Forget the loaded model (tests; the next request loads the active one)."""
    global _state, _checked_at
    with _lock:
        _state = None
        _checked_at = 0.0


def current_state() -> ServingState:
    """The serving state of the active model, refreshed at most every RECOMMENDER_REFRESH_SECONDS."""
    global _state, _checked_at
    now = time.monotonic()
    state = _state
    if state is not None and now - _checked_at < setting("RECOMMENDER_REFRESH_SECONDS"):
        return state
    # One thread refreshes; the others keep serving the current state meanwhile.
    if not _lock.acquire(blocking=state is None):
        return state
    try:
        state = _state
        with connection.cursor() as cursor:
            cursor.execute(ACTIVE_RUN_SQL)
            active = cursor.fetchone()
        active_id = active[0] if active else None
        published = bool(active and active[3])
        if state is None or state.run_id != active_id or state.lists_published != published:
            state = _state = load_state(active)
        else:
            # A new state object, swapped in with one assignment: a request holding the old one (gthread
            # workers) never sees one refresh's catalog beside another's sellable set or customers.
            state = _state = _refresh(state, now)
        _checked_at = now
        return state
    finally:
        _lock.release()


def _refresh(state: ServingState, now: float) -> ServingState:
    """A copy of `state` with new events (read incrementally, by interaction id) and, less often, a fresh
    catalog; `state` itself is left as it was for the requests still using it."""
    changes: dict = {}
    with connection.cursor() as cursor:
        cursor.execute(LAST_EVENT_SQL)
        last = cursor.fetchone()[0] or 0
        if last > state.last_event_id:
            # Re-read a small overlap: with PostgreSQL sequences a lower id can commit after a higher one.
            since = max(state.max_interaction_id, state.last_event_id - EVENT_ID_OVERLAP)
            cursor.execute(NEW_EVENTS_SQL, [since, last])
            changes["changed_customers"] = frozenset(state.changed_customers | {r[0] for r in cursor.fetchall()})
            changes["last_event_id"] = last
    if now - state.catalog_at >= setting("RECOMMENDER_CATALOG_REFRESH_SECONDS"):
        changes.update(_load_catalog(state))
    return replace(state, **changes) if changes else state


def load_state(active: tuple | None) -> ServingState:
    """Read the run's model (not its per-customer lists) and the catalog into memory."""
    started = time.perf_counter()
    state = ServingState(run_id=None)
    if active is not None:
        run_id, path, sha256, published_at = active
        try:
            artifact = read_artifact(path, sha256=sha256 or None, per_customer=False)
        except (OSError, ValueError, KeyError):
            logger.exception("cannot load the artifact of run %s; serving popular products", run_id)
            artifact = None
        if artifact is not None:
            ids = artifact.item_product_ids.astype(np.int64)
            to_product = ids.tolist()

            def products(items: np.ndarray) -> list[int]:
                return [to_product[i] for i in items.tolist() if i >= 0]

            state = ServingState(
                run_id=run_id,
                lists_published=published_at is not None,
                algorithm=artifact.header.get("algorithm", ""),
                max_interaction_id=int(artifact.header.get("max_interaction_id", 0)),
                model=artifact.model,
                bought_together=artifact.bought_together,
                item_product_ids=ids,
                item_products=to_product,
                product_item={p: i for i, p in enumerate(to_product)},
                popular=products(artifact.popular_items),
                trending=products(artifact.trending_items),
                segment_popular={
                    int(s): products(artifact.segment_popular[i]) for i, s in enumerate(artifact.segment_ids.tolist())
                },
                exclude_kinds=tuple(artifact.header.get("exclude_kinds", ("purchase",))),
            )
    if not state.popular:
        from recommender.selectors import popular_products

        state.popular = [pid for pid, _ in popular_products(limit=200)]
    state = replace(state, last_event_id=state.max_interaction_id, **_load_catalog(None))
    state = _refresh(state, time.monotonic())
    # The loaded state lives until the next model switch: keep the collector from re-scanning it (and
    # everything loaded before it) on every full collection, which would show up as latency spikes.
    gc.collect()
    gc.freeze()
    logger.info("serving run %s (%s), loaded in %.2f s", state.run_id, state.algorithm, time.perf_counter() - started)
    return state


def _load_catalog(previous: ServingState | None) -> dict:
    """The catalog and categories, read afresh: fields for a new ServingState (never written into a live one,
    so readers see the old or the new catalog, never a mix). The rendered reasons are kept from `previous`
    while product names stay the same."""
    catalog, skus, sellable = {}, {}, set()
    categories, names = {}, {}
    with connection.cursor() as cursor:
        cursor.execute(CATALOG_SQL)
        for pid, sku, name, category_id, is_active, is_merchandise, stock, is_stub in cursor.fetchall():
            catalog[pid] = (sku, name, category_id)
            skus[sku] = pid
            # A stub (made from an event naming an unknown sku) has no name or price yet: never served.
            if is_active and is_merchandise and not is_stub and (stock is None or stock > 0):
                sellable.add(pid)
        cursor.execute(f"SELECT id, code, name FROM {CATEGORY}")
        for cid, code, name in cursor.fetchall():
            categories[code] = cid
            names[cid] = name
    return {
        "catalog": catalog,
        "sku_product": skus,
        "sellable": frozenset(sellable),
        # Rendered "because you bought X" texts stay valid while product names do.
        "reasons": previous.reasons if previous is not None and previous.catalog == catalog else {},
        "category_ids": categories,
        "category_names": names,
        "catalog_at": time.monotonic(),
    }


# --- requests -------------------------------------------------------------------------------------------


class UnknownProduct(LookupError):
    pass


class UnknownCategory(ValueError):
    pass


@dataclass
class Answer:
    results: list[dict]
    strategy: str
    run_id: int | None
    customer_id: int | None = None


def _category_id(state: ServingState, code: str | None) -> int | None:
    if not code:
        return None
    category_id = state.category_ids.get(code)
    if category_id is None:
        # Not loaded yet, or given by its name ("Books" for `books`): one lookup.
        found = category_by_name_or_code(name_or_code=code)
        if found is None:
            raise UnknownCategory(code)
        category_id = found.pk
    return category_id


def _product_id(state: ServingState, sku: str) -> int:
    pid = state.sku_product.get(sku)
    if pid is None:
        pid = Product.objects.filter(sku=sku).values_list("id", flat=True).first()
        if pid is None:
            raise UnknownProduct(sku)
    return pid


def recommend(
    *,
    external_id: str,
    n: int,
    category: str | None = None,
    exclude: tuple[str, ...] = (),
    max_per_category: int | None = None,
    prefetched: Prefetched | None = None,
) -> Answer:
    """Top-n sellable products for a customer with a reason each; see the module docstring for the cost.

    `prefetched` (from `prefetch_lists`, for callers answering many customers) saves the customer's lookup."""
    state = current_state()
    category_id = _category_id(state, category)
    excluded = {state.sku_product[s] for s in exclude if s in state.sku_product}
    found = prefetched.lists.get(external_id) if prefetched is not None and prefetched.fits(state) else None
    customer_id, ranked = found if found is not None else customer_and_list(state, external_id)
    # Newer events than the model, or a run whose lists are not in the database: score the history.
    rescore = customer_id is not None and (customer_id in state.changed_customers or not state.lists_published)
    bought: set[int] | None = None

    if rescore and state.model is not None:
        strategy = "fold_in"
        candidates, bought = _fold_in(state, customer_id, n + len(excluded) + 50)
    elif ranked is not None:
        strategy = "personal"
        if not excluded and category_id is None and not (max_per_category or setting("RECOMMENDER_MAX_PER_CATEGORY")):
            results = _precomputed_fast(state, ranked, n)
            if len(results) == n:
                return Answer(results=results, strategy=strategy, run_id=state.run_id, customer_id=customer_id)
        candidates = _precomputed(state, ranked)
    else:
        strategy, candidates = _cold_start(state, customer_id)
        if customer_id is not None:
            bought = _bought(state, customer_id)
    cap = max_per_category or setting("RECOMMENDER_MAX_PER_CATEGORY")
    results = _sellable(state, candidates, n=n, excluded=excluded | (bought or set()), category_id=category_id, cap=cap)
    if len(results) < n and strategy in ("personal", "fold_in"):
        # Short list (filters, a thin history): fill with popular products, never what they bought.
        if bought is None:
            bought = _bought(state, customer_id)
        served = [state.sku_product[r["sku"]] for r in results]
        taken = set(served) | excluded | bought
        fill = _popular_candidates(state)
        results += _sellable(
            state,
            fill,
            n=n - len(results),
            excluded=taken,
            category_id=category_id,
            cap=cap,
            counts=_category_counts(state, served),
        )
    return Answer(results=results, strategy=strategy, run_id=state.run_id, customer_id=customer_id)


@dataclass(frozen=True)
class Prefetched:
    """Many customers' pks and precomputed lists, read together for the run that was active then."""

    run_id: int | None
    lists_published: bool
    lists: dict[str, tuple[int, CustomerList | None]]

    def fits(self, state: ServingState) -> bool:
        return self.run_id == state.run_id and self.lists_published == state.lists_published


PREFETCH_CHUNK = 500  # external ids per query: under SQLite's bound-parameter limit


def prefetch_lists(external_ids: list[str]) -> Prefetched:
    """The customers' pks and lists in the active run, a query per few hundred customers instead of one each
    (a campaign's audience build). Customers not found are left out; `recommend` looks them up itself."""
    state = current_state()
    lists: dict[str, tuple[int, CustomerList | None]] = {}
    with_lists = state.run_id is not None and state.lists_published
    with connection.cursor() as cursor:
        for start in range(0, len(external_ids), PREFETCH_CHUNK):
            chunk = external_ids[start : start + PREFETCH_CHUNK]
            marks = ", ".join(["%s"] * len(chunk))
            if with_lists:
                cursor.execute(CUSTOMERS_LISTS_SQL.format(marks), [state.run_id, *chunk])
            else:
                cursor.execute(CUSTOMERS_SQL.format(marks), chunk)
            for external_id, customer_id, payload in cursor.fetchall():
                lists[external_id] = (customer_id, unpack_list(payload) if payload is not None else None)
    return Prefetched(run_id=state.run_id, lists_published=state.lists_published, lists=lists)


def _fetchone(sql: str, params: tuple):
    """One row of a per-request lookup, on the database driver's own connection: Django's cursor wrapper costs
    more than the indexed query itself. When Django records queries (DEBUG, tests counting them) or wraps
    them, the lookup goes through its cursor as any other query."""
    if connection.queries_logged or connection.execute_wrappers:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()
    connection.ensure_connection()
    if connection.vendor == "sqlite":
        return connection.connection.execute(_QMARK[sql], params).fetchone()
    with connection.connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def customer_and_list(state: ServingState, external_id: str) -> tuple[int | None, CustomerList | None]:
    """The customer's pk (None: unknown) and their precomputed list in the active run (None: none there)."""
    if state.run_id is not None and state.lists_published:
        found = _fetchone(CUSTOMER_LIST_SQL, (state.run_id, external_id))
    else:
        found = _fetchone(CUSTOMER_SQL, (external_id,))
    if found is None:
        return None, None
    customer_id, payload = found
    return customer_id, (unpack_list(payload) if payload is not None else None)


def _precomputed_fast(state: ServingState, ranked: CustomerList, n: int) -> list[dict]:
    """The common request (no filters): the first n sellable products of the precomputed list."""
    products, sellable, catalog, reasons = state.item_products, state.sellable, state.catalog, state.reasons
    depth = 2 * n + 10  # usually enough; the caller falls back to the whole list when it is not
    items, scores, because, kinds = ranked.head(depth)
    results = []
    for slot, item in enumerate(items):
        if item < 0:
            break
        pid = products[item]
        if pid not in sellable:
            continue
        key = (because[slot], kinds[slot])
        reason = reasons.get(key)
        if reason is None:
            reason = reasons[key] = (
                reason_text(state, "because", key) if key[0] >= 0 and key[1] > 0 else "recommended for you"
            )
        sku, name, _ = catalog[pid]
        results.append(
            {
                "sku": sku,
                "name": name,
                "score": scores[slot],
                "reason": reason,
                "reason_code": "because" if key[0] >= 0 and key[1] > 0 else "personal",
            }
        )
        if len(results) == n:
            break
    return results


def _precomputed(state: ServingState, ranked: CustomerList):
    products = state.item_products
    items = ranked.items.tolist()
    scores = ranked.scores.tolist()
    because = ranked.because.tolist()
    kinds = ranked.kinds.tolist()
    for slot, item in enumerate(items):
        if item < 0:
            return
        if because[slot] >= 0 and kinds[slot] > 0:
            yield (products[item], scores[slot], "because", (because[slot], kinds[slot]))
        else:
            yield (products[item], scores[slot], "personal", None)


def _candidate(pid: int, score: float, because: int, kind: int) -> Candidate:
    if because >= 0 and kind > 0:
        return (pid, score, "because", (because, kind))
    return (pid, score, "personal", None)


def reason_text(state: ServingState, code: str, arg) -> str:
    if code == "because":
        because, kind = arg
        sku, name, _ = state.catalog.get(state.item_products[because], ("", "", None))
        return f"because you {BECAUSE_KINDS[kind]} {name or sku}"
    if code == "segment":
        return f"popular in your segment {arg}"
    if code in ("similar", "bought_together", "trending_days"):
        return arg
    return {"personal": "recommended for you", "trending": "trending", "popular": "popular"}[code]


def _fold_in(state: ServingState, customer_id: int, depth: int) -> tuple[list[Candidate], set[int]]:
    """Score the customer's current history with the model (events newer than the model included)."""
    with connection.cursor() as cursor:
        cursor.execute(HISTORY_SQL, [customer_id, HISTORY_LIMIT])
        rows = cursor.fetchall()
    frame = pd.DataFrame(
        rows, columns=["customer", "product", "kind", "value", "quantity", "occurred_at", "is_merchandise"]
    )
    bought = set(frame.loc[frame["kind"].isin(state.exclude_kinds), "product"].tolist())
    from recommender.services import interaction_matrix

    data = interaction_matrix(frame, user_ids=[customer_id], item_ids=state.item_product_ids)
    history = data.matrix
    if history.nnz == 0:
        _, candidates = _cold_start(state, customer_id)
        return candidates, bought
    scores = np.asarray(state.model.score(history), dtype=np.float64).ravel()
    scores[[state.product_item[p] for p in bought if p in state.product_item]] = -np.inf
    depth = min(depth, len(scores))
    top = np.argpartition(-scores, depth - 1)[:depth]
    top = top[np.lexsort((top, -scores[top]))]
    top = top[np.isfinite(scores[top])]
    because = because_items(state.model, history.indices, top)
    # What the customer did with each history item, strongest kind first.
    codes = frame["kind"].map(KIND_CODES).fillna(0)
    kind_by_product = frame.assign(code=codes).groupby("product")["code"].max().to_dict()
    out = []
    for item, reason_item in zip(top.tolist(), because.tolist(), strict=True):
        pid = int(state.item_product_ids[item])
        kind = int(kind_by_product.get(int(state.item_product_ids[reason_item]), 0)) if reason_item >= 0 else 0
        out.append(_candidate(pid, float(scores[item]), reason_item, kind))
    return out, bought


def _cold_start(state: ServingState, customer_id: int | None) -> tuple[str, list[Candidate]]:
    """Popular in the customer's segment (the active segmentation), else trending, else popular."""
    if customer_id is not None:
        from segments.selectors import customer_segments, segment_member_ids

        for segment in customer_segments(customer_id=customer_id):
            products = state.segment_popular.get(segment.pk)
            if products is None:
                products = _late_segment_popular(segment.pk, segment_member_ids)
            if products:
                return "segment", [(p, _rank_score(i), "segment", segment.name) for i, p in enumerate(products)]
    return "popular", _popular_candidates(state)


def _late_segment_popular(segment_id: int, segment_member_ids) -> list[int]:
    """A segment created after training: its members' favourites, cached by segment id (a segment's members
    do not change once its run is done), so its members are read once, not on every request."""
    from django.core.cache import cache

    from recommender.selectors import POPULAR_CACHE_SECONDS, popular_products

    key = f"recommender:segment-popular:{segment_id}"
    products = cache.get(key)
    if products is None:
        members = segment_member_ids(segment_id=segment_id)
        products = [pid for pid, _ in popular_products(customer_ids=members, limit=100)]
        cache.set(key, products, POPULAR_CACHE_SECONDS)
    return products


def _popular_candidates(state: ServingState):
    for i, p in enumerate(state.trending):
        yield (p, _rank_score(i), "trending", None)
    seen = set(state.trending)
    for i, p in enumerate(state.popular):
        if p not in seen:
            yield (p, _rank_score(i), "popular", None)


def _rank_score(rank: int) -> float:
    return round(1.0 / (1 + rank), 6)


def _bought(state: ServingState, customer_id: int | None) -> set[int]:
    if customer_id is None or not state.exclude_kinds:
        return set()
    with connection.cursor() as cursor:
        cursor.execute(
            BOUGHT_SQL.format(", ".join(["%s"] * len(state.exclude_kinds))), [customer_id, *state.exclude_kinds]
        )
        return {r[0] for r in cursor.fetchall()}


def _category_counts(state: ServingState, products: list[int]) -> dict[int | None, int]:
    counts: dict[int | None, int] = {}
    for pid in products:
        category = state.catalog[pid][2]
        counts[category] = counts.get(category, 0) + 1
    return counts


def _sellable(
    state: ServingState,
    candidates,
    *,
    n: int,
    excluded: set[int],
    category_id: int | None,
    cap: int | None,
    counts: dict | None = None,
) -> list[dict]:
    """The first n candidates that are sellable (active, in stock, merchandise) in the catalog as of the last
    refresh, not excluded, in the category and under the per-category cap."""
    catalog, sellable = state.catalog, state.sellable
    seen: set[int] = set()
    results: list[dict] = []
    counts = dict(counts or {})
    for pid, score, code, arg in candidates:
        if pid in excluded or pid in seen or pid not in sellable:
            continue
        seen.add(pid)
        sku, name, category = catalog[pid]
        if category_id is not None and category != category_id:
            continue
        if cap:
            if counts.get(category, 0) >= cap:
                continue
            counts[category] = counts.get(category, 0) + 1
        results.append(
            {
                "sku": sku,
                "name": name,
                "score": round(score, 6),
                "reason": reason_text(state, code, arg),
                "reason_code": "trending" if code == "trending_days" else code,
            }
        )
        if len(results) >= n:
            break
    return results


def similar(*, sku: str, n: int) -> Answer:
    """Products like this one (the active model's item neighbours), sellable now."""
    state = current_state()
    return _neighbours(state, state.model, sku=sku, n=n, code="similar", reason="similar to {}")


def bought_together(*, sku: str, n: int) -> Answer:
    """Products often in the same order as this one (co-occurrence with lift), sellable now."""
    state = current_state()
    return _neighbours(
        state, state.bought_together, sku=sku, n=n, code="bought_together", reason="often bought with {}"
    )


def _neighbours(state: ServingState, model, *, sku: str, n: int, code: str, reason: str) -> Answer:
    """The sellable item neighbours of `sku` in `model`, each with `reason` naming the product."""
    pid = _product_id(state, sku)
    item = state.product_item.get(pid)
    name = state.catalog.get(pid, (sku, "", None))[1] or sku
    candidates: list[Candidate] = []
    if model is not None and item is not None:
        items, scores = model.similar_items(item, n=min(n * 3 + 20, len(state.item_product_ids) - 1))
        for i, s in zip(items.tolist(), scores.tolist(), strict=True):
            if np.isfinite(s) and s > 0:
                candidates.append((state.item_products[i], float(s), code, reason.format(name)))
    results = _sellable(state, candidates, n=n, excluded={pid}, category_id=None, cap=None)
    return Answer(results=results, strategy=code if candidates else "none", run_id=state.run_id)


def popular(*, n: int, category: str | None = None, days: int | None = None) -> Answer:
    """The most popular sellable products (distinct customers), all time or over the last `days`."""
    from recommender.selectors import popular_products

    state = current_state()
    category_id = _category_id(state, category)
    reason = f"popular in the last {days} days" if days else "popular"
    ranked = popular_products(category_id=category_id, days=days, limit=max(3 * n, 100))
    code = "trending_days" if days else "popular"
    candidates = [(pid, float(count), code, reason) for pid, count in ranked]
    results = _sellable(state, candidates, n=n, excluded=set(), category_id=category_id, cap=None)
    return Answer(results=results, strategy="trending" if days else "popular", run_id=state.run_id)
