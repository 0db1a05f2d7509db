"""Item categories as the ranker reads them: codes, each category's popular items, customers' category
shares and recency, and pair lookups."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix

from reco.interactions.idmapping import IdMapping
from reco.models.categories import (
    NO_CATEGORY,
    category_items,
    category_shares,
    category_since_last,
    customer_categories,
    item_category_codes,
    lookup,
)


def test_codes_take_each_items_latest_named_category_and_leave_the_rest_without() -> None:
    events = pd.DataFrame({"customer_id": ["a", "a", "b", "b", "c"],
                           "item_id": ["milk", "milk", "bread", "jam", "ghost"],
                           "category": ["dairy", "chilled", "bakery", None, "dairy"]})
    mapping = IdMapping(np.array(["a", "b", "c"]), np.array(["bread", "jam", "milk", "tea"]))
    codes = item_category_codes(events, mapping)
    assert codes[1] == codes[3] == NO_CATEGORY  # jam names none, tea has no events ('ghost' is not in the mapping)
    assert codes[0] != codes[2] and {codes[0], codes[2]} == {0, 1}
    assert (item_category_codes(events.drop(columns="category"), mapping) == NO_CATEGORY).all()


def test_category_items_keep_each_categorys_most_popular_as_shares() -> None:
    codes = np.array([0, 0, 0, 1, 1, NO_CATEGORY])
    popularity = np.array([1.0, 6.0, 3.0, 2.0, 2.0, 50.0])
    top = category_items(codes, category_shares(codes, popularity), per_category=2).toarray()
    np.testing.assert_allclose(top[0], [0, 0.6, 0.3, 0, 0, 0])  # item 0 (1 of 10) is third: dropped
    np.testing.assert_allclose(top[1], [0, 0, 0, 0.5, 0.5, 0])  # the uncategorised best seller is in none
    assert category_items(codes, category_shares(codes, np.zeros(6)), 2).nnz == 0


def test_customer_shares_and_recency_per_category() -> None:
    codes = np.array([0, 0, 1, NO_CATEGORY])
    weights = csr_matrix(np.array([[1.0, 3.0, 4.0, 9.0], [0.0, 0.0, 0.0, 2.0]]))
    shares = customer_categories(weights, codes).toarray()
    np.testing.assert_allclose(shares, [[0.5, 0.5], [0.0, 0.0]])  # uncategorised weight counts in no share
    rows, items, last = np.array([0, 0, 0, 1]), np.array([0, 1, 2, 3]), np.array([5.0, 0.0, 9.0, 1.0])
    since = category_since_last(rows, items, last, codes, n_users=2).toarray()
    np.testing.assert_allclose(since, [[1.0, 10.0], [0.0, 0.0]])  # 1 + days since the latest in each category


def test_lookup_reads_pairs_and_answers_missing_for_absent_ones() -> None:
    matrix = csr_matrix(np.array([[0.0, 2.0, 0.0], [3.0, 0.0, 4.0]], dtype=np.float32))
    got = lookup(matrix, np.array([0, 1, 1, 0, 1]), np.array([1, 2, 1, 0, -1]), missing=np.nan)
    np.testing.assert_allclose(got, [2.0, 4.0, np.nan, np.nan, np.nan])  # -1 never reads the row before's last
