"""Presets: column mappings and fix-ups for real logs that reco knows by name.

A preset maps a source's columns onto the canonical schema (``canonical -> source column``) and may
transform the renamed chunk before it is normalised: turn cancellations into returns, derive a unit
price, or drop rows that are not products. Anything a preset drops is counted under a named reason.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from reco.exceptions import ConfigurationError, InputError
from reco.offers.catalogue import Offer

Transform = Callable[[pd.DataFrame, Counter], pd.DataFrame]


@dataclass(frozen=True)
class Preset:
    """How to read one known log: mapping, constants, a transform and the timestamp format."""

    name: str
    description: str
    columns: dict[str, str]
    constants: dict[str, str] = field(default_factory=dict)
    transform: Transform | None = None
    date_format: str | None = None
    catalogue: Preset | None = None
    catalogue_file: str | None = None
    events_file: str | None = None
    # Files beside the events read after them (marketing contacts, redemptions): folder -> plan entries.
    extras: Callable[[Path], list[tuple[Path, str, Preset]]] | None = None
    # Offers the data set describes (its campaigns), stored with the run: folder -> offers.
    offers: Callable[[Path], list[Offer]] | None = None

    def resolve(self, path: Path) -> list[tuple[Path, str, Preset]]:
        """Files to read for ``path``, in order, each with its kind ('items' or 'events') and preset."""
        if path.is_dir():
            if not self.events_file:
                raise InputError(f"preset {self.name!r} reads a file, not a folder", source=str(path))
            path = path / self.events_file
            if not path.exists():
                raise InputError(f"preset {self.name!r} expects {self.events_file} in this folder",
                                 source=str(path.parent))
        plan: list[tuple[Path, str, Preset]] = []
        if self.catalogue is not None and self.catalogue_file:
            sibling = path.parent / self.catalogue_file
            if sibling.exists():
                plan.append((sibling, "items", self.catalogue))
        plan.append((path, "events", self))
        if self.extras is not None:
            plan.extend(self.extras(path.parent))
        return plan


# Online Retail ---------------------------------------------------------------------------------------
# Stock codes that are charges, fees, postage, samples or vouchers rather than products.
ONLINE_RETAIL_NON_PRODUCTS = frozenset(
    {"POST", "DOT", "M", "D", "C2", "S", "B", "BANK CHARGES", "AMAZONFEE", "CRUK", "PADS"}
)
_VOUCHER = re.compile(r"^gift_\d+", re.IGNORECASE)


def _online_retail(df: pd.DataFrame, dropped: Counter) -> pd.DataFrame:
    codes = df["item_id"].fillna("").str.strip()
    non_product = codes.str.upper().isin(ONLINE_RETAIL_NON_PRODUCTS) | codes.str.match(_VOUCHER)
    if non_product.any():
        dropped["non_product_code"] += int(non_product.sum())
        df = df.loc[~non_product]
    order = df["order_id"].fillna("")
    cancelled = order.str.upper().str.startswith("C")
    df = df.assign(event_type=cancelled.map({True: "return", False: "purchase"}))
    return df


ONLINE_RETAIL = Preset(
    name="online-retail",
    description="UCI Online Retail (InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice, "
    "CustomerID, Country); 'C' invoices become returns, fees and postage are not products",
    columns={
        "order_id": "InvoiceNo",
        "item_id": "StockCode",
        "name": "Description",
        "quantity": "Quantity",
        "timestamp": "InvoiceDate",
        "price": "UnitPrice",
        "customer_id": "CustomerID",
    },
    constants={"channel": "web"},
    transform=_online_retail,
    date_format="%Y-%m-%d %H:%M:%S",
)


# dunnhumby The Complete Journey ---------------------------------------------------------------------
def _dunnhumby_transactions(df: pd.DataFrame, dropped: Counter) -> pd.DataFrame:
    qty = pd.to_numeric(df["quantity"], errors="coerce")
    value = pd.to_numeric(df.get("sales_value"), errors="coerce")
    price = (value / qty).where(qty > 0)
    retail = pd.to_numeric(df.get("retail_disc"), errors="coerce").abs().fillna(0.0)
    coupon = pd.to_numeric(df.get("coupon_disc"), errors="coerce").abs().fillna(0.0)
    match = pd.to_numeric(df.get("coupon_match_disc"), errors="coerce").abs().fillna(0.0)
    return df.assign(
        price=price.round(4).astype(str).where(price.notna(), None),
        discount=(retail + coupon + match).round(4).astype(str),
        coupon_discount=(coupon + match).round(4).astype(str),
    )


def _dunnhumby_products(df: pd.DataFrame, dropped: Counter) -> pd.DataFrame:
    parts = [df.get(c, pd.Series(index=df.index, dtype=object)).fillna("") for c in
             ("brand", "product_type", "package_size")]
    name = (parts[1].str.strip() + " " + parts[2].str.strip()).str.strip()
    name = name.where(name != "", parts[0].str.strip())
    category = df.get("product_category", pd.Series(index=df.index, dtype=object))
    department = df.get("department", pd.Series(index=df.index, dtype=object))
    return df.assign(name=name.where(name != "", None), category=category.fillna(department))


DUNNHUMBY_PRODUCTS = Preset(
    name="dunnhumby-products",
    description="dunnhumby The Complete Journey products.csv(.gz) as the item catalogue",
    columns={"item_id": "product_id"},
    transform=_dunnhumby_products,
)

DUNNHUMBY_REDEMPTIONS = Preset(
    name="dunnhumby-redemptions",
    description="dunnhumby coupon_redemptions.csv(.gz): household_id, coupon_upc, campaign_id, redemption_date",
    columns={"customer_id": "household_id", "campaign_id": "campaign_id", "timestamp": "redemption_date"},
    constants={"kind": "redemption"},
    date_format="%Y-%m-%d",
)


def _dunnhumby_contacts(folder: Path) -> Preset:
    """campaigns.csv(.gz) says who received which campaign; the date is the campaign's start date, from
    campaign_descriptions.csv(.gz) beside it (a contact without a known campaign is dropped, counted)."""
    descriptions = pd.read_csv(folder / "campaign_descriptions.csv.gz", dtype=str)
    start = dict(zip(descriptions["campaign_id"].str.strip(), descriptions["start_date"].str.strip(), strict=True))

    def transform(df: pd.DataFrame, dropped: Counter) -> pd.DataFrame:
        dates = df["campaign_id"].astype(str).str.strip().map(start)
        unknown = dates.isna()
        if unknown.any():
            dropped["unknown_campaign"] += int(unknown.sum())
        return df.loc[~unknown].assign(timestamp=dates[~unknown])

    return Preset(name="dunnhumby-contacts", description="dunnhumby campaigns.csv(.gz) with campaign start dates",
                  columns={"customer_id": "household_id", "campaign_id": "campaign_id"},
                  constants={"kind": "contact"}, transform=transform, date_format="%Y-%m-%d")


def _as_outcomes(preset: Preset, outcome: str, channel: str | None) -> Preset:
    """The same rows as offer outcomes: each campaign is an offer (reco.offers), its contacts ``sent`` and its
    redemptions ``redeemed``; channel None: not recorded."""
    columns = {("offer_id" if k == "campaign_id" else k): v for k, v in preset.columns.items()}
    constants = {"outcome": outcome, **({"channel": channel} if channel else {})}
    return Preset(name=f"{preset.name}-outcomes", description=f"{preset.description}, as offer outcomes",
                  columns=columns, constants=constants, transform=preset.transform, date_format=preset.date_format)


def _dunnhumby_offers(folder: Path) -> list[Offer]:
    """Each campaign as an offer: valid from its start to its end, covering its coupons' products, typed by its
    campaign type. The coupons' face values are not in the data, so the value is the median coupon discount
    seen on those products while the campaign ran (amount_off; 1.0 when none was seen), and the channel,
    not recorded either, is the store where coupons are redeemed."""
    needed = ("campaign_descriptions.csv.gz", "coupons.csv.gz", "transactions.csv.gz")
    if not all((folder / name).exists() for name in needed):
        return []
    described = pd.read_csv(folder / needed[0], dtype=str)
    coupons = pd.read_csv(folder / needed[1], dtype=str)
    tx = pd.read_csv(folder / needed[2], usecols=["product_id", "coupon_disc", "transaction_timestamp"],
                     dtype={"product_id": str})
    used = tx[pd.to_numeric(tx["coupon_disc"], errors="coerce") < 0]
    used = used.assign(when=pd.to_datetime(used["transaction_timestamp"]), saved=-used["coupon_disc"].astype(float))
    items = coupons.groupby("campaign_id")["product_id"].agg(lambda s: tuple(sorted(set(s))))
    out = []
    for row in described.itertuples():
        products = items.get(row.campaign_id, ())
        start, end = pd.Timestamp(row.start_date), pd.Timestamp(row.end_date)
        seen = used[used["product_id"].isin(products) & used["when"].between(start, end + pd.Timedelta(days=1))]
        value = round(float(seen["saved"].median()), 2) if len(seen) else 1.0
        out.append(Offer(offer_id=str(row.campaign_id), name=f"campaign {row.campaign_id} ({row.campaign_type})",
                         kind="amount_off", value=value, channels=("store",), valid_from=start,
                         valid_until=end + pd.Timedelta(days=1),
                         scope={"kind": "items", "items": products} if products else {"kind": "basket"},
                         offer_type=str(row.campaign_type).replace("Type ", ""), cost_per_redemption=value))
    return out


def _dunnhumby_extras(folder: Path) -> list[tuple[Path, str, Preset]]:
    """Campaign contacts and coupon redemptions, both as marketing rows (the churn model's campaign features)
    and as offer outcomes (the offer-response model's labels and past responses)."""
    plan: list[tuple[Path, str, Preset]] = []
    if (folder / "campaigns.csv.gz").exists() and (folder / "campaign_descriptions.csv.gz").exists():
        contacts = _dunnhumby_contacts(folder)
        plan.append((folder / "campaigns.csv.gz", "marketing", contacts))
        plan.append((folder / "campaigns.csv.gz", "offer-outcomes", _as_outcomes(contacts, "sent", None)))
    if (folder / "coupon_redemptions.csv.gz").exists():
        plan.append((folder / "coupon_redemptions.csv.gz", "marketing", DUNNHUMBY_REDEMPTIONS))
        plan.append((folder / "coupon_redemptions.csv.gz", "offer-outcomes",
                     _as_outcomes(DUNNHUMBY_REDEMPTIONS, "redeemed", "store")))
    return plan


DUNNHUMBY = Preset(
    name="dunnhumby",
    description="dunnhumby The Complete Journey: transactions.csv(.gz) (household_id, product_id, "
    "basket_id, quantity, sales_value, discounts, transaction_timestamp); products.csv(.gz) beside it "
    "is read first as the catalogue; campaigns.csv(.gz) (with campaign_descriptions) and coupon_redemptions.csv(.gz) "
    "beside it are read after it as marketing contacts and redemptions; a folder path reads them all",
    columns={
        "customer_id": "household_id",
        "item_id": "product_id",
        "order_id": "basket_id",
        "quantity": "quantity",
        "timestamp": "transaction_timestamp",
    },
    constants={"channel": "store", "event_type": "purchase"},
    transform=_dunnhumby_transactions,
    date_format="%Y-%m-%d %H:%M:%S",
    catalogue=DUNNHUMBY_PRODUCTS,
    catalogue_file="products.csv.gz",
    events_file="transactions.csv.gz",
    extras=_dunnhumby_extras,
    offers=_dunnhumby_offers,
)

PRESETS: dict[str, Preset] = {p.name: p for p in (ONLINE_RETAIL, DUNNHUMBY, DUNNHUMBY_PRODUCTS)}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigurationError(
            f"unknown preset {name!r}; valid presets: {', '.join(sorted(PRESETS))}"
        ) from None
