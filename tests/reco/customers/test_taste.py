"""The product-mix embedding: separates product ranges, stays in one space across cutoffs, saves without pickle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reco.customers.taste import TasteEmbedding, taste_columns
from reco.exceptions import ArtifactError, ConfigurationError, NotFittedError


def _purchases(seed: int = 0) -> pd.DataFrame:
    """40 customers of a garden range (G*) and 40 of a kitchen range (K*), a few items each."""
    rng = np.random.default_rng(seed)
    rows = [(f"{prefix}{c:02d}", f"{prefix}{int(rng.integers(0, 15)):02d}")
            for prefix in ("G", "K") for c in range(40) for _ in range(6)]
    return pd.DataFrame(rows, columns=["customer_id", "item_id"])


def test_customers_of_one_range_sit_together() -> None:
    purchases = _purchases()
    emb = TasteEmbedding(n_components=3).fit(purchases)
    x = emb.transform(purchases, pd.Index(sorted(purchases["customer_id"].unique())))
    assert list(x.columns) == taste_columns(3)
    unit = x.to_numpy() / np.linalg.norm(x.to_numpy(), axis=1, keepdims=True)
    cosine = unit @ unit.T
    garden = x.index.str.startswith("G")
    within = cosine[np.ix_(garden, garden)].mean()
    across = cosine[np.ix_(garden, ~garden)].mean()
    assert within > 0.8 and across < 0.2, (within, across)


def test_transform_reads_only_the_given_purchases_and_known_items() -> None:
    purchases = _purchases()
    emb = TasteEmbedding(n_components=3).fit(purchases)
    customers = pd.Index(["G00", "K00", "nobody"])
    x = emb.transform(purchases, customers)
    assert (x.loc["nobody"] == 0).all()
    extra = pd.DataFrame({"customer_id": ["G00", "G01"], "item_id": ["never-seen", "K01"]})
    y = emb.transform(pd.concat([purchases, extra]), customers)
    pd.testing.assert_frame_equal(x, y)  # an unknown item changes nothing; G01's row is not asked for
    only_first = emb.transform(purchases[purchases["customer_id"] == "G00"], customers)
    np.testing.assert_allclose(only_first.loc["G00"], x.loc["G00"])
    assert (only_first.loc["K00"] == 0).all()


def test_too_small_a_catalogue_gives_inert_zero_columns() -> None:
    one_item = pd.DataFrame({"customer_id": ["a", "b", "c"], "item_id": ["x", "x", "x"]})
    emb = TasteEmbedding(n_components=4).fit(one_item)
    x = emb.transform(one_item, pd.Index(["a", "b"]))
    assert x.shape == (2, 4) and (x.to_numpy() == 0).all()
    no_items = pd.DataFrame({"customer_id": ["a", "b"], "item_id": [None, None]})
    assert (TasteEmbedding(2).fit(no_items).transform(no_items, pd.Index(["a"])).to_numpy() == 0).all()


def test_save_load_round_trip_and_errors(tmp_path: Path) -> None:
    purchases = _purchases()
    emb = TasteEmbedding(n_components=3).fit(purchases)
    emb.save(tmp_path)
    loaded = TasteEmbedding.load(tmp_path)
    customers = pd.Index(["G03", "K07"])
    pd.testing.assert_frame_equal(loaded.transform(purchases, customers), emb.transform(purchases, customers))
    with np.load(tmp_path / "taste.npz") as arrays:
        np.savez(tmp_path / "taste.npz", idf=arrays["idf"], components=arrays["components"][:, :5])
    with pytest.raises(ArtifactError, match="inconsistent"):
        TasteEmbedding.load(tmp_path)
    with pytest.raises(ArtifactError, match="cannot read"):
        TasteEmbedding.load(tmp_path / "missing")
    with pytest.raises(NotFittedError):
        TasteEmbedding().transform(purchases, customers)
    with pytest.raises(ConfigurationError, match="n_components must be an integer >= 1, got 0"):
        TasteEmbedding(n_components=0).fit(purchases)
