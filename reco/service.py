"""Recommendations with names and reasons, from a model bundle and the catalogue.

Shared by the API and the batch export so that both give the same answer for the same customer.
Each customer is scored from their current purchase history (read fresh from the store), turned
into a row the way the model's ``input_spec`` says, as of the later of the model's data and the
customer's last purchase.

The API may keep each customer's top list in a small in-process cache (``cache_size``), keyed by the
customer, the mode and a fingerprint of the purchase history it was computed from. That history is
read on every request anyway, so a new purchase or an erasure changes the fingerprint and the list is
computed again: a cached answer is always the one a fresh computation would give.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix

from reco.exceptions import ConfigurationError, ModelNotFoundError, UnknownItemError
from reco.models import Recommender
from reco.registry import ModelBundle

COMPLEMENTS = "complements"  # the bundle's "goes well with" model (reco.models.complements)
SUBSTITUTE_OVERLAP = 0.6  # names sharing this share of their words are variants of one product
# Completing a basket (``basket``): complement candidates, the customer's own top list, and the weight of a
# complement's normalised score against the list's rank (1 at the top). Chosen on Online Retail's validation
# window (the 30 days before its test window), hiding one item of each basket of customers the model knows.
BASKET_COMPLEMENTS = 50
BASKET_PERSONAL = 200
BASKET_COMPLEMENT_WEIGHT = 0.1


def _near_duplicate(a: str | None, b: str | None) -> bool:
    """Whether two item names are near-duplicates (word Jaccard >= SUBSTITUTE_OVERLAP); unknown names are not."""
    if not a or not b:
        return False
    wa, wb = set(a.lower().split()), set(b.lower().split())
    return len(wa & wb) / max(len(wa | wb), 1) >= SUBSTITUTE_OVERLAP


REASON_POPULAR = "popular"
REASON_FOR_YOU = "recommended for you"
REASON_BOUGHT_BEFORE = "bought before"
MODES: tuple[str, ...] = ("new", "all")
# Items a cache miss computes and keeps per customer and mode, so requests for up to this many items
# (and filtered requests that leave enough of them) are answered from the cache.
CACHE_DEPTH = 30


@dataclass(frozen=True)
class RecommendedItem:
    item_id: str
    name: str | None
    score: float
    reason: str
    because_item_id: str | None = None


@dataclass(frozen=True)
class Filters:
    """Which items may be shown: a category, a price range, explicit exclusions (inactive never are)."""

    category: str | None = None
    min_price: float | None = None
    max_price: float | None = None
    exclude: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """True when nothing beyond inactive items is ruled out."""
        return self.category is None and self.min_price is None and self.max_price is None and not self.exclude

    def __post_init__(self) -> None:
        if self.min_price is not None and self.max_price is not None and self.min_price > self.max_price:
            raise ConfigurationError(f"min_price {self.min_price} is above max_price {self.max_price}")


@dataclass(frozen=True)
class Recommendations:
    customer_id: str
    model_version: str
    personalised: bool
    items: list[RecommendedItem]
    cached: bool = False  # answered from the top-list cache (same items as a fresh computation)
    model: str = ""  # the model that served this mode (the version's guard may serve a baseline for a mode)


# ``because`` code of a cached popular top-up item (-1 already means "recommended for you").
_POPULAR = -2


@dataclass(frozen=True)
class _TopList:
    """A customer's cached answer for one mode, as arrays (about 1.2 KB with its key): item indices,
    scores and the item each is explained by (see ``RecommendationService._item``); the first
    ``personal`` items come from the model, the rest are popular top-ups."""

    fingerprint: bytes
    indices: np.ndarray
    scores: np.ndarray
    because: np.ndarray
    personal: int
    stored: float


class TopListCache:
    """Bounded LRU of customers' top lists with an age limit; safe to share between request threads."""

    def __init__(self, size: int, max_age_seconds: float) -> None:
        self.size = size
        self.max_age_seconds = max_age_seconds
        self._entries: OrderedDict[tuple[str, str], _TopList] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[str, str], fingerprint: bytes) -> _TopList | None:
        with self._lock:
            entry = self._entries.get(key)
            fresh = (entry is not None and entry.fingerprint == fingerprint
                     and time.monotonic() - entry.stored < self.max_age_seconds)
            if fresh:
                self._entries.move_to_end(key)
            self.hits += fresh
            self.misses += not fresh
            return entry if fresh else None

    def put(self, key: tuple[str, str], entry: _TopList) -> None:
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def forget(self, customer_id: str) -> None:
        with self._lock:
            for mode in MODES:
                self._entries.pop((customer_id, mode), None)

    def forget_where(self, customer: Callable[[str], bool]) -> int:
        """Drop the lists of every customer for whom ``customer(id)`` is true; returns how many were dropped."""
        with self._lock:
            gone = [key for key in self._entries if customer(key[0])]
            for key in gone:
                del self._entries[key]
        return len(gone)

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(frozen=True)
class CustomerHistory:
    """One customer's purchases as arrays, item ids and datetime64[us] times, in the order the store reads
    them: the API's per-request path builds no DataFrame (building one cost 0.14 ms, more than a cache hit)."""

    item_ids: np.ndarray
    timestamps: np.ndarray

    @classmethod
    def of(cls, history: pd.DataFrame | CustomerHistory) -> CustomerHistory:
        """``history`` as arrays (a frame's item_id and timestamp columns)."""
        if isinstance(history, CustomerHistory):
            return history
        return cls(history["item_id"].to_numpy(dtype=object), history["timestamp"].to_numpy(dtype="datetime64[us]"))

    def __len__(self) -> int:
        return len(self.item_ids)


def history_fingerprint(history: pd.DataFrame | CustomerHistory) -> bytes:
    """A digest of a customer's events (item_id, timestamp) in the order given."""
    history = CustomerHistory.of(history)
    digest = hashlib.blake2b(digest_size=16)
    digest.update("\x1f".join(map(str, history.item_ids)).encode())
    digest.update(history.timestamps.astype("datetime64[us]", copy=False).tobytes())
    return digest.digest()


def history_fingerprints(history: pd.DataFrame) -> dict[str, bytes]:
    """``history_fingerprint`` of each customer in ``history`` (customer_id, item_id, timestamp)."""
    return {c: history_fingerprint(h) for c, h in history.groupby("customer_id", sort=False)}


class RecommendationService:
    """Turns model output (indices, scores) into named items with a reason a person can read.

    ``cache_size`` > 0 keeps that many customers' top lists per mode for ``cache_seconds`` (see the
    module docstring); 0 computes every request."""

    def __init__(self, bundle: ModelBundle, catalogue: pd.DataFrame, cache_size: int = 0,
                 cache_seconds: float = 300.0) -> None:
        self.cache = TopListCache(cache_size, cache_seconds) if cache_size > 0 else None
        self.bundle = bundle
        self.mapping = bundle.mapping
        self.model = bundle.models[bundle.default_model]
        self.fallback = bundle.models[bundle.fallback_model]
        # The model serving each mode: the default unless the version's guard chose a baseline for it.
        self.model_names = {mode: bundle.serving_model(mode) for mode in MODES}
        self.models = {mode: bundle.models[name] for mode, name in self.model_names.items()}
        data = bundle.metadata.get("data", {})
        last = data.get("as_of") or data.get("last_event")  # versions before as-of times had only the latter
        self.data_end = pd.Timestamp(last) if last else None
        ids = self.mapping.item_ids
        by_id = catalogue.drop_duplicates("item_id", keep="last").set_index("item_id")

        def column(name: str) -> pd.Series:
            """The catalogue column in model item order (missing column or item: None)."""
            values = by_id[name] if name in by_id.columns else pd.Series(None, index=by_id.index, dtype=object)
            return values.reindex(ids)

        names = column("name")
        self.names: np.ndarray = names.astype(object).where(names.notna(), None).to_numpy()
        active = column("active").astype(object).where(column("active").notna(), True).astype(bool)
        self.inactive: np.ndarray = np.flatnonzero(~active.to_numpy())
        self._inactive_set = frozenset(int(i) for i in self.inactive)
        category = column("category")
        self.categories: np.ndarray = category.astype(object).where(category.notna(), None).to_numpy()
        self.prices: np.ndarray = pd.to_numeric(column("price"), errors="coerce").to_numpy(dtype=float)

    def blocked_items(self, filters: Filters | None) -> np.ndarray:
        """Indices never to show: inactive items plus whatever ``filters`` rule out."""
        return np.flatnonzero(self._blocked_mask(filters))

    def _blocked_mask(self, filters: Filters | None) -> np.ndarray:
        blocked = np.zeros(self.mapping.n_items, dtype=bool)
        blocked[self.inactive] = True
        if filters is not None:
            if filters.category is not None:
                blocked |= self.categories != filters.category
            if filters.min_price is not None:
                blocked |= ~(self.prices >= filters.min_price)
            if filters.max_price is not None:
                blocked |= ~(self.prices <= filters.max_price)
            excluded = self.mapping.item_indices(filters.exclude)
            blocked[excluded[excluded >= 0]] = True
        return blocked

    @property
    def version(self) -> str:
        return self.bundle.version

    def _scoring_time(self, latest: np.datetime64 | pd.Timestamp | None) -> pd.Timestamp | None:
        """The time a customer's history is weighed at: the later of the model's data and their last event."""
        now = pd.Timestamp(latest) if latest is not None and not pd.isna(latest) else None
        if self.data_end is not None and (now is None or self.data_end > now):
            now = self.data_end
        return now

    def history_rows(self, customer_ids: Sequence[str], history: pd.DataFrame, mode: str = "new") -> csr_matrix:
        """One row per customer in the model's item space, weighted as the model serving ``mode`` expects."""
        mapping = self.mapping.for_users(customer_ids)
        if history.empty:
            return self._empty_rows(len(customer_ids), mode)
        now = self._scoring_time(pd.to_datetime(history["timestamp"]).max())
        rows, _ = self._model(mode).input_spec.build(history, now=now, mapping=mapping, window=False)
        return rows

    def history_row(self, history: pd.DataFrame | CustomerHistory, mode: str = "new") -> csr_matrix:
        """One customer's row from their events (item_id, timestamp): ``history_rows`` for a single
        customer, built with numpy only (the per-request path of the API)."""
        history = CustomerHistory.of(history)
        if not len(history):
            return self._empty_rows(1, mode)
        stamps = history.timestamps.astype("datetime64[ns]")
        now = self._scoring_time(stamps.max())
        age_days = (np.datetime64(now, "ns") - stamps) / np.timedelta64(1, "D")
        return self._model(mode).input_spec.row(self.mapping.item_indices(history.item_ids), age_days,
                                                self.mapping.n_items)

    def _empty_rows(self, count: int, mode: str = "new") -> csr_matrix:
        """Rows of customers with no history, as wide as the model's input (all its channel blocks)."""
        return csr_matrix((count, self.mapping.n_items * self._model(mode).input_spec.n_blocks), dtype=np.float32)

    def _model(self, mode: str) -> Recommender:
        if mode not in MODES:
            raise ConfigurationError(f"mode {mode!r} is not valid; valid: {', '.join(MODES)}")
        return self.models[mode]

    def recommend(
        self, customer_id: str, history: pd.DataFrame | CustomerHistory | None, n: int = 10, personalise: bool = True,
        mode: str = "new", filters: Filters | None = None, fresh: bool = True,
    ) -> Recommendations:
        """Top-n for one customer from their history (item_id, timestamp; None: none); popular if not personal.

        With ``fresh`` (the default here) the customer's collaborative profile is solved again from
        ``history`` instead of taken from training, so purchases sent since then count at once."""
        if self.cache is not None and personalise and fresh and history is not None and len(history):
            if mode not in MODES:
                raise ConfigurationError(f"mode {mode!r} is not valid; valid: {', '.join(MODES)}")
            return self._through_cache(customer_id, history, n, mode, filters)
        rows = self._empty_rows(1, mode) if history is None else self.history_row(history, mode)
        return self._recommend_rows([customer_id], rows, n, [personalise], mode, filters, fresh)[0]

    def _through_cache(self, customer_id: str, history: pd.DataFrame | CustomerHistory, n: int, mode: str,
                       filters: Filters | None) -> Recommendations:
        """``recommend`` answered from the customer's cached top list where it holds the answer."""
        assert self.cache is not None
        key, fingerprint = (customer_id, mode), history_fingerprint(history)
        answer = self.cached(customer_id, fingerprint, n, mode, filters)
        if answer is not None:
            return answer
        row = self.history_row(history, mode)
        if not (filters is None or filters.empty):
            return self._recommend_rows([customer_id], row, n, [True], mode, filters, True)[0]
        result = self._recommend_rows([customer_id], row, max(n, CACHE_DEPTH), [True], mode, None, True)[0]
        self._remember(key, fingerprint, result)
        return replace(result, items=result.items[:n])

    def cached(self, customer_id: str, fingerprint: bytes, n: int = 10, mode: str = "new",
               filters: Filters | None = None) -> Recommendations | None:
        """``recommend``'s personal answer from the customer's cached top list for the history with this
        ``history_fingerprint``, or None when the cache cannot answer it (nothing is computed)."""
        if self.cache is None:
            return None
        entry = self.cache.get((customer_id, mode), fingerprint)
        if entry is None:
            return None
        keep: np.ndarray | None = None
        if (filters is None or filters.empty) and len(entry.indices) >= n:
            keep = np.arange(n)
        elif not (filters is None or filters.empty):
            # Only the model's own items: a filtered request's popular fill differs from the cached one.
            passing = np.flatnonzero(~self._blocked_mask(filters)[entry.indices[:entry.personal]])
            keep = passing[:n] if len(passing) >= n else None
        if keep is None:
            return None
        items = [self._cached_item(entry, int(i)) for i in keep]
        return Recommendations(customer_id, self.version, True, items, cached=True, model=self.model_names[mode])

    def _remember(self, key: tuple[str, str], fingerprint: bytes, result: Recommendations) -> None:
        """Cache a personal, unfiltered top list as arrays (non-personal answers are never cached)."""
        if self.cache is None or not result.personalised:
            return
        popular = np.array([i.reason == REASON_POPULAR for i in result.items], dtype=bool)
        explained = np.array([i.because_item_id is not None for i in result.items], dtype=bool)
        because = np.where(explained, self.mapping.item_indices([i.because_item_id or "" for i in result.items]), -1)
        self.cache.put(key, _TopList(
            fingerprint, self.mapping.item_indices([i.item_id for i in result.items]).astype(np.int32),
            np.array([i.score for i in result.items], dtype=np.float64),
            np.where(popular, _POPULAR, because).astype(np.int32), int((~popular).sum()), time.monotonic()))

    def warm(self, history: pd.DataFrame, fingerprints: Mapping[str, bytes] | None = None) -> int:
        """Cache the top lists (both modes) of the customers in ``history`` (customer_id, item_id,
        timestamp; each customer's rows as ``EventStore.customer_events`` reads them), computed in one
        batch as their first request would; returns how many customers got personal lists. A batch sums
        scores in another order than one customer (BLAS), so scores may differ in the last float32 digit.

        A request scores a customer as of the later of the model's data and their last purchase, so
        only customers with nothing after the model's data share one scoring time and are batched here;
        the others (and everyone, when the model does not record its data's end) wait for a request.
        ``fingerprints``: ``history_fingerprints(history)`` when the caller has them already.
        """
        if self.cache is None or self.data_end is None or history.empty:
            return 0
        last = history.groupby("customer_id", sort=False)["timestamp"].max()
        ready = last.index[last.to_numpy() <= np.datetime64(self.data_end, "us")].tolist()
        if not ready:
            return 0
        history = history[history["customer_id"].isin(ready)]
        if fingerprints is None:
            fingerprints = history_fingerprints(history)
        personal = 0
        for mode in MODES:
            rows = self.history_rows(ready, history, mode)
            results = self._recommend_rows(ready, rows, CACHE_DEPTH, None, mode, None, True)
            for customer_id, result in zip(ready, results, strict=True):
                self._remember((customer_id, mode), fingerprints[customer_id], result)
            personal = sum(r.personalised for r in results)  # the same in both modes
        return personal

    def _cached_item(self, entry: _TopList, position: int) -> RecommendedItem:
        index, because = int(entry.indices[position]), int(entry.because[position])
        score = float(entry.scores[position])
        if because == _POPULAR:
            return RecommendedItem(str(self.mapping.item_ids[index]), self.names[index], score, REASON_POPULAR)
        return self._item(index, score, because)

    def forget(self, customer_id: str) -> None:
        """Drop an erased customer's cached lists."""
        if self.cache is not None:
            self.cache.forget(customer_id)

    def recommend_many(
        self,
        customer_ids: Sequence[str],
        history: pd.DataFrame,
        n: int = 10,
        personalise: Sequence[bool] | None = None,
        mode: str = "new",
        filters: Filters | None = None,
        fresh: bool = False,
    ) -> list[Recommendations]:
        """Batched top-n; ``history`` holds the purchases (customer_id, item_id, timestamp) of all of them.

        Mode ``new`` never returns an item the customer bought; ``all`` may (reason 'bought before').
        """
        rows = self.history_rows(customer_ids, history, mode)
        return self._recommend_rows(customer_ids, rows, n, personalise, mode, filters, fresh)

    def _recommend_rows(
        self,
        customer_ids: Sequence[str],
        rows: csr_matrix,
        n: int,
        personalise: Sequence[bool] | None,
        mode: str,
        filters: Filters | None,
        fresh: bool,
    ) -> list[Recommendations]:
        """Top-n for customers whose history rows (the ``input_spec`` of the model serving ``mode``) are
        built already."""
        model, name = self._model(mode), self.model_names[mode]
        new_only = mode == "new"
        allowed = np.ones(len(customer_ids), dtype=bool) if personalise is None else np.asarray(personalise)
        user_idx = self.mapping.user_indices(customer_ids)
        has_history = np.diff(rows.indptr) > 0
        personal = allowed & ((user_idx >= 0) | has_history)
        results: list[Recommendations | None] = [None] * len(customer_ids)
        blocked = self.blocked_items(filters)
        filt = blocked if len(blocked) else None

        idx = np.flatnonzero(personal)
        if len(idx):
            model_ids = user_idx[idx]
            if fresh and model.supports_unknown_users:
                model_ids = np.full(len(idx), -1, dtype=np.int64)  # solve the profile from the rows, as a new user
            ids, scores = model.recommend(model_ids, rows[idx], n=n, filter_already_purchased=new_only,
                                          filter_items=filt)
            for j, i in enumerate(idx):
                valid = ids[j] >= 0
                items, item_scores = ids[j][valid], scores[j][valid]
                because = model.explain(rows[i], items)
                recs = [self._item(it, sc, b) for it, sc, b in zip(items, item_scores, because, strict=True)]
                if len(recs) < n:
                    recs += self._popular(model.purchased(rows[i]), n - len(recs),
                                          np.concatenate([blocked, items]), new_only)
                results[i] = Recommendations(customer_ids[i], self.version, True, recs, model=name)

        rest = np.flatnonzero(~personal)
        if len(rest):
            empty = csr_matrix((1, self.mapping.n_items), dtype=np.float32)
            popular = self._popular(empty, n, blocked, new_only=False)
            for i in rest:
                results[i] = Recommendations(customer_ids[i], self.version, False, list(popular),
                                             model=self.bundle.fallback_model)
        return [r for r in results if r is not None]

    def _popular(self, row: csr_matrix, n: int, blocked: np.ndarray, new_only: bool) -> list[RecommendedItem]:
        filt = np.unique(blocked.astype(np.int64)) if len(blocked) else None
        ids, scores = self.fallback.recommend(-1, row, n=n, filter_items=filt, filter_already_purchased=new_only)
        return [RecommendedItem(str(self.mapping.item_ids[i]), self.names[i], float(s), REASON_POPULAR)
                for i, s in zip(ids, scores, strict=True) if i >= 0]

    def _item(self, index: int, score: float, because: int) -> RecommendedItem:
        item_id = str(self.mapping.item_ids[index])
        if because == index:
            return RecommendedItem(item_id, self.names[index], float(score), REASON_BOUGHT_BEFORE, item_id)
        if because >= 0:
            label = self.names[because] or str(self.mapping.item_ids[because])
            return RecommendedItem(item_id, self.names[index], float(score), f"because you bought {label}",
                                   str(self.mapping.item_ids[because]))
        return RecommendedItem(item_id, self.names[index], float(score), REASON_FOR_YOU)

    def basket(self, customer_id: str, history: pd.DataFrame | CustomerHistory | None, basket: Sequence[str],
               n: int = 10, personalise: bool = True, filters: Filters | None = None) -> Recommendations:
        """Items that complete ``basket`` (item ids; unknown ones are ignored), never one of its items.

        For a customer who allows personalisation and has a history, their own list (mode ``all``, the
        top ``BASKET_PERSONAL`` by rank) leads and complements of the basket add ``BASKET_COMPLEMENT_WEIGHT``
        of their normalised score; for anyone else the complements alone rank, popular items fill up."""
        model = self._complements_model()
        known = sorted({i for i in (self.mapping.item_index(str(b)) for b in basket) if i is not None})
        row = csr_matrix((np.ones(len(known), dtype=np.float32), (np.zeros(len(known), dtype=np.int64), known)),
                         shape=(1, self.mapping.n_items))
        blocked = np.union1d(self.blocked_items(filters), np.asarray(known, dtype=np.int64))
        ids, scores = model.recommend(-1, row, n=BASKET_COMPLEMENTS, filter_already_purchased=True,
                                      filter_items=blocked if len(blocked) else None)
        valid = (ids >= 0) & np.isfinite(scores)
        ids, scores = ids[valid], scores[valid]
        because = model.explain(row, ids)
        score: dict[int, float] = {}
        reason: dict[int, RecommendedItem] = {}
        top = float(scores.max()) if len(scores) else 1.0
        for i, s, b in zip(ids.tolist(), scores.tolist(), because.tolist(), strict=True):
            score[i] = BASKET_COMPLEMENT_WEIGHT * s / top if top > 0 else 0.0
            label = (self.names[b] or str(self.mapping.item_ids[b])) if b >= 0 else "your basket"
            reason[i] = RecommendedItem(str(self.mapping.item_ids[i]), self.names[i], 0.0, f"often bought with {label}",
                                        str(self.mapping.item_ids[b]) if b >= 0 else None)
        personal = bool(personalise and history is not None and len(CustomerHistory.of(history)))
        if personal:
            rows = self.history_row(history, "all")  # type: ignore[arg-type]
            in_basket = tuple(str(self.mapping.item_ids[i]) for i in known)
            without = replace(filters or Filters(), exclude=(*(filters.exclude if filters else ()), *in_basket))
            mine = self._recommend_rows([customer_id], rows, BASKET_PERSONAL, [True], "all", without, True)[0]
            personal = mine.personalised
            for rank, item in enumerate(mine.items):
                index = self.mapping.item_index(item.item_id)
                if index is None or index in known:
                    continue
                score[index] = score.get(index, 0.0) + 1.0 - rank / BASKET_PERSONAL
                reason.setdefault(index, item)
        ranked = sorted(score, key=lambda i: (-score[i], i))[:n]
        items = [replace(reason[i], score=round(score[i], 6)) for i in ranked]
        if len(items) < n:
            items += self._popular(row, n - len(items), np.union1d(blocked, np.asarray(ranked, dtype=np.int64)), True)
        return Recommendations(customer_id, self.version, personal, items,
                               model=f"{COMPLEMENTS}+{self.model_names['all']}" if personal else COMPLEMENTS)

    def _complements_model(self) -> Recommender:
        model = self.bundle.models.get(COMPLEMENTS)
        if model is None:
            raise ModelNotFoundError(f"model version {self.version} has no complements; train a new version")
        return model

    def complements(self, item_id: str, n: int = 10) -> list[RecommendedItem]:
        """Items often bought in the same basket as ``item_id`` (more often than chance), best first, without
        near-duplicates of the item itself (a name sharing most of its words: a substitute, not a
        complement); reason "often bought with X". UnknownItemError if not in the model; ModelNotFoundError
        for a version trained before complements existed."""
        model = self._complements_model()
        index = self.mapping.item_index(item_id)
        if index is None:
            raise UnknownItemError(f"item {item_id!r} is not in model version {self.version}")
        ids, scores = model.similar_items(index, n=3 * n + len(self.inactive))
        label = self.names[index] or item_id
        out = []
        for i, score in zip(ids, scores, strict=True):
            if i < 0 or i in self._inactive_set or not np.isfinite(score) or _near_duplicate(self.names[index],
                                                                                          self.names[i]):
                continue
            out.append(RecommendedItem(str(self.mapping.item_ids[i]), self.names[i], float(score),
                                       f"often bought with {label}", item_id))
            if len(out) == n:
                break
        return out

    def similar(self, item_id: str, n: int = 10) -> list[RecommendedItem]:
        """Items most like ``item_id`` (by the default model); UnknownItemError if not in the model."""
        index = self.mapping.item_index(item_id)
        if index is None:
            raise UnknownItemError(f"item {item_id!r} is not in model version {self.version}")
        ids, scores = self.model.similar_items(index, n=n + len(self.inactive))
        keep = [(i, s) for i, s in zip(ids, scores, strict=True) if i >= 0 and i not in self._inactive_set]
        label = self.names[index] or item_id  # the item's name, as "because you bought NAME" says
        return [RecommendedItem(str(self.mapping.item_ids[i]), self.names[i], float(s), f"similar to {label}")
                for i, s in keep[:n]]
