"""The recommendation service: names, reasons, consent, cold start, inactive items."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from reco.exceptions import ConfigurationError, UnknownItemError
from reco.interactions import build_user_items
from reco.models import ALSRecommender, PopularityRecommender, model_classes
from reco.registry import ModelBundle
from reco.service import (
    REASON_BOUGHT_BEFORE,
    REASON_POPULAR,
    CustomerHistory,
    Filters,
    RecommendationService,
    history_fingerprint,
)
from tests.factories import make_purchases


def _history(items: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"item_id": items, "timestamp": pd.Timestamp("2024-02-01")})


@pytest.fixture
def service() -> RecommendationService:
    events = make_purchases()
    matrix, mapping = build_user_items(events, weighting="binary")
    bundle = ModelBundle("20240101T000000Z-0000", {
        "als": ALSRecommender(factors=4, iterations=15, regularization=1.0, alpha=1.0).fit(matrix),
        "popularity": PopularityRecommender().fit(matrix)}, mapping)
    catalogue = pd.DataFrame({"item_id": mapping.item_ids, "name": [f"Item {i[1:]}" for i in mapping.item_ids],
                              "active": [i != "I002" for i in mapping.item_ids],
                              "category": ["odd" if int(i[1:]) % 2 else "even" for i in mapping.item_ids],
                              "price": [float(i[1:]) for i in mapping.item_ids]})
    return RecommendationService(bundle, catalogue)


def test_known_customer_gets_named_items_with_reasons(service: RecommendationService) -> None:
    history = ["I000", "I001", "I003"]
    result = service.recommend("C000", _history(history), n=4)
    assert result.personalised and len(result.items) == 4
    for item in result.items:
        assert item.item_id not in history and item.item_id != "I002"  # bought and inactive items never shown
        assert item.name == f"Item {item.item_id[1:]}"
        assert item.reason.startswith("because you bought Item ") and item.because_item_id in history


def test_unknown_customer_and_opt_out_get_popular(service: RecommendationService) -> None:
    unknown = service.recommend("stranger", None, n=3)
    opted_out = service.recommend("C000", _history(["I000"]), n=3, personalise=False)
    assert not unknown.personalised and not opted_out.personalised
    assert [i.reason for i in unknown.items] == [REASON_POPULAR] * 3
    assert [i.item_id for i in unknown.items] == [i.item_id for i in opted_out.items]


def test_new_customer_with_history_gets_personal_results(service: RecommendationService) -> None:
    result = service.recommend("brand-new", _history(["I011", "I012"]), n=3)
    assert result.personalised
    assert all(int(i.item_id[1:]) >= 10 for i in result.items)


def test_tops_up_with_popular_items_when_model_runs_short(service: RecommendationService) -> None:
    result = service.recommend("C000", _history([f"I{i:03d}" for i in range(18)]), n=5)
    ids = [i.item_id for i in result.items]
    assert sorted(ids) == ["I018", "I019"]


def test_mode_all_allows_buying_again_and_bad_mode_is_refused(service: RecommendationService) -> None:
    history = [f"I{i:03d}" for i in range(18)]
    result = service.recommend("C000", _history(history), n=5, mode="all")
    assert len(result.items) == 5
    assert any(i.reason == REASON_BOUGHT_BEFORE or i.item_id in history for i in result.items)
    with pytest.raises(ConfigurationError, match="valid: new, all"):
        service.recommend("C000", _history(history), mode="everything")


def test_similar_items(service: RecommendationService) -> None:
    items = service.similar("I011", n=3)
    assert len(items) == 3 and all(int(i.item_id[1:]) >= 10 for i in items)
    with pytest.raises(UnknownItemError, match="'nope'"):
        service.similar("nope")


@pytest.mark.parametrize("personal", [True, False])
def test_filters_apply_to_personal_and_popular_lists(service: RecommendationService, personal: bool) -> None:
    filters = Filters(category="odd", min_price=5, max_price=15, exclude=("I007", "unknown-id"))
    result = service.recommend("C000" if personal else "stranger", _history(["I001"]) if personal else None,
                               n=10, filters=filters)
    assert result.personalised is personal
    ids = [int(i.item_id[1:]) for i in result.items]
    assert ids and all(i % 2 == 1 and 5 <= i <= 15 and i != 7 for i in ids)
    assert sorted(ids) == [5, 9, 11, 13, 15], "every odd item priced 5..15 except the excluded I007"


def test_min_price_above_max_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="min_price 9 is above max_price 3"):
        Filters(min_price=9, max_price=3)


@pytest.mark.parametrize("model", ["als", "ranker"])
def test_one_customer_path_equals_the_batch_path(model: str) -> None:
    """recommend (the API's numpy row) and recommend_many (the export's pandas rows) agree, channels included."""
    events = make_purchases()
    cls = model_classes()[model]
    params = {"factors": 4, "iterations": 10} | ({"max_iter": 20, "cutoffs": 2, "label_days": 10}
                                                 if model == "ranker" else {})
    recommender = cls(**params)
    matrix, mapping = recommender.input_spec.build(events, window=False)
    popularity = PopularityRecommender()
    bundle = ModelBundle("20240101T000000Z-0000", {model: recommender.fit(matrix),
                                                    "popularity": popularity.fit(build_user_items(events)[0])},
                         mapping, {"default_model": model, "data": {"last_event": "2024-04-01T00:00:00"}})
    service = RecommendationService(bundle, pd.DataFrame({"item_id": mapping.item_ids}))
    for customer in ("C000", "C013", "someone-new"):
        mine = events[events["customer_id"] == customer][["item_id", "timestamp"]]
        if customer == "someone-new":
            mine = _history(["I011", "I012"])
        single = service.recommend(customer, mine, n=5, mode="all")
        batch = service.recommend_many([customer], mine.assign(customer_id=customer), n=5, mode="all", fresh=True)[0]
        assert single == batch


def _bundle_and_events(model: str) -> tuple[ModelBundle, pd.DataFrame]:
    events = make_purchases(n_customers=50, n_items=70, per_customer=12)
    cls = model_classes()[model]
    params = {"factors": 6, "iterations": 10} | ({"max_iter": 20, "cutoffs": 2, "label_days": 10}
                                                 if model == "ranker" else {})
    recommender = cls(**params)
    matrix, mapping = recommender.input_spec.build(events, window=False)
    bundle = ModelBundle("20240101T000000Z-0000", {
        model: recommender.fit(matrix), "popularity": PopularityRecommender().fit(build_user_items(events)[0])},
        mapping, {"default_model": model, "data": {"last_event": "2024-04-01T00:00:00"}})
    return bundle, events


def _catalogue(bundle: ModelBundle) -> pd.DataFrame:
    ids = bundle.mapping.item_ids
    return pd.DataFrame({"item_id": ids, "name": [f"Item {i[1:]}" for i in ids],
                         "active": [i not in ("I002", "I041") for i in ids],
                         "category": ["odd" if int(i[1:]) % 2 else "even" for i in ids],
                         "price": [float(i[1:]) for i in ids]})


@pytest.mark.parametrize("model", ["als", "ranker"])
def test_cached_answers_equal_fresh_ones_for_every_n_mode_and_filter(model: str) -> None:
    """Each request is asked twice of a caching service (the second from the cache where it can be) and
    once of a service without a cache: all three agree, reasons and popular top-ups included."""
    bundle, events = _bundle_and_events(model)
    cached = RecommendationService(bundle, _catalogue(bundle), cache_size=1000)
    plain = RecommendationService(bundle, _catalogue(bundle))
    filters = [None, Filters(), Filters(category="odd"), Filters(max_price=30.0), Filters(exclude=("I005", "I060")),
               Filters(category="even", min_price=60.0)]
    customers = ["C000", "C007", "C031", "someone-new"]
    for customer in customers:
        mine = events[events["customer_id"] == customer][["item_id", "timestamp"]]
        if customer == "someone-new":
            mine = _history(["I011", "I012"])
        for mode in ("new", "all"):
            for n in (3, 10, 30, 45):
                for f in filters:
                    want = plain.recommend(customer, mine, n=n, mode=mode, filters=f)
                    for _ in range(2):
                        got = cached.recommend(customer, mine, n=n, mode=mode, filters=f)
                        assert (got.items, got.personalised) == (want.items, want.personalised), (customer, mode, n, f)
    assert cached.cache is not None and cached.cache.hits > cached.cache.misses > 0


def test_a_changed_history_is_computed_again_and_erasure_forgets() -> None:
    bundle, events = _bundle_and_events("als")
    service = RecommendationService(bundle, _catalogue(bundle), cache_size=10)
    plain = RecommendationService(bundle, _catalogue(bundle))
    mine = events[events["customer_id"] == "C000"][["item_id", "timestamp"]]
    first = service.recommend("C000", mine, n=5)
    assert not first.cached and service.recommend("C000", mine, n=5).cached
    bought = first.items[0].item_id
    more = pd.concat([mine, _history([bought])], ignore_index=True)
    after = service.recommend("C000", more, n=5)
    assert not after.cached and bought not in [i.item_id for i in after.items]
    assert after.items == plain.recommend("C000", more, n=5).items
    service.forget("C000")
    assert len(service.cache) == 0 and not service.recommend("C000", more, n=5).cached


def test_the_cache_is_bounded_and_entries_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    bundle, events = _bundle_and_events("als")
    service = RecommendationService(bundle, _catalogue(bundle), cache_size=3, cache_seconds=60)
    histories = {c: events[events["customer_id"] == c][["item_id", "timestamp"]] for c in ("C000", "C001", "C002",
                                                                                             "C003")}
    for customer, history in histories.items():
        service.recommend(customer, history, n=5)
    assert len(service.cache) == 3
    assert not service.recommend("C000", histories["C000"], n=5).cached  # the oldest was evicted
    assert service.recommend("C003", histories["C003"], n=5).cached
    clock = time.monotonic() + 61
    monkeypatch.setattr("reco.service.time.monotonic", lambda: clock)
    assert not service.recommend("C003", histories["C003"], n=5).cached


def test_opted_out_and_historyless_requests_bypass_the_cache() -> None:
    bundle, events = _bundle_and_events("als")
    service = RecommendationService(bundle, _catalogue(bundle), cache_size=10)
    mine = events[events["customer_id"] == "C000"][["item_id", "timestamp"]]
    for _ in range(2):
        assert not service.recommend("C000", mine, n=5, personalise=False).cached
        assert not service.recommend("stranger", None, n=5).cached
    assert len(service.cache) == 0


def _in_store_order(events: pd.DataFrame) -> pd.DataFrame:
    """Purchases as EventStore.customers_events returns them: by customer, then time, then item."""
    return events.sort_values(["customer_id", "timestamp", "item_id"])[["customer_id", "item_id", "timestamp"]]


@pytest.mark.parametrize("model", ["als", "ranker"])
def test_a_warmed_cache_answers_first_requests_as_they_would_be_computed(model: str) -> None:
    bundle, events = _bundle_and_events(model)
    history = _in_store_order(events)
    late = pd.DataFrame({"customer_id": ["C031"], "item_id": ["I003"], "timestamp": [pd.Timestamp("2024-05-01")]})
    history = _in_store_order(pd.concat([history, late], ignore_index=True))  # C031 bought after the model's data
    warmed = RecommendationService(bundle, _catalogue(bundle), cache_size=1000)
    plain = RecommendationService(bundle, _catalogue(bundle))
    customers = history["customer_id"].unique()
    assert warmed.warm(history) == len(customers) - 1
    assert warmed.cache is not None and len(warmed.cache) == 2 * (len(customers) - 1)
    for customer in ("C000", "C007", "C031", "C049"):
        mine = history[history["customer_id"] == customer][["item_id", "timestamp"]].reset_index(drop=True)
        for mode in ("new", "all"):
            for n in (1, 10, 30):
                for f in (None, Filters(category="odd")):
                    got = warmed.recommend(customer, mine, n=n, mode=mode, filters=f)
                    want = plain.recommend(customer, mine, n=n, mode=mode, filters=f)
                    assert [replace(i, score=0.0) for i in got.items] == [replace(i, score=0.0) for i in want.items]
                    # one batch sums in another order than one customer: scores agree to float32 rounding
                    np.testing.assert_allclose([i.score for i in got.items], [i.score for i in want.items],
                                               rtol=1e-5, atol=1e-6)
                    # C031 was left to its first request, which then fills the cache like any miss
                    listed = customer != "C031" or (n, f) != (1, None)
                    assert got.cached == (listed and (n < 30 or f is None)), (customer, mode, n, f)


def test_warming_needs_the_models_data_end_and_a_cache() -> None:
    bundle, events = _bundle_and_events("als")
    history = _in_store_order(events)
    assert RecommendationService(bundle, _catalogue(bundle)).warm(history) == 0
    bundle.metadata["data"] = {}
    assert RecommendationService(bundle, _catalogue(bundle), cache_size=10).warm(history) == 0


def test_forget_where_drops_matching_customers() -> None:
    bundle, events = _bundle_and_events("als")
    service = RecommendationService(bundle, _catalogue(bundle), cache_size=100)
    service.warm(_in_store_order(events[events["customer_id"].isin(["C000", "C001", "C002"])]))
    assert service.cache is not None and service.cache.forget_where(lambda c: c in ("C001", "C002")) == 4
    assert {key[0] for key in service.cache._entries} == {"C000"}


def test_a_history_as_arrays_reads_like_the_frame() -> None:
    """The API passes the store's arrays (CustomerHistory), other callers a frame: same rows, same cache key."""
    bundle, events = _bundle_and_events("als")
    service = RecommendationService(bundle, _catalogue(bundle), cache_size=10)
    mine = events[events["customer_id"] == "C000"][["item_id", "timestamp"]]
    arrays = CustomerHistory(mine["item_id"].to_numpy(dtype=object), mine["timestamp"].to_numpy(dtype="datetime64[us]"))
    assert history_fingerprint(arrays) == history_fingerprint(mine)
    assert (service.history_row(arrays) != service.history_row(mine)).nnz == 0
    first = service.recommend("C000", mine, n=5)
    again = service.recommend("C000", arrays, n=5)
    assert again.cached and again.items == first.items
    assert not service.recommend("C000", CustomerHistory.of(mine.iloc[:-1]), n=5).cached
