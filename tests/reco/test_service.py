"""The recommendation service: names, reasons, consent, cold start, inactive items."""

from __future__ import annotations

import pandas as pd
import pytest

from reco.exceptions import ConfigurationError, UnknownItemError
from reco.interactions import build_user_items
from reco.models import ALSRecommender, PopularityRecommender, model_classes
from reco.registry import ModelBundle
from reco.service import REASON_BOUGHT_BEFORE, REASON_POPULAR, Filters, RecommendationService
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
