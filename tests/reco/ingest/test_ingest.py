"""Ingest: column mapping, presets, idempotency, atomicity, and precise errors for unusable input."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from reco.exceptions import ConfigurationError, InputError
from reco.ingest import ingest, parse_mappings
from reco.store import EventStore

MAP_EXAMPLE = ["customer_id=CUSTOMER_ID", "item_id=PRODUCT_ID", "timestamp=TRANSACTION_DT",
               "quantity=AMOUNT", "price=SALES_PRICE"]


def _write(path: Path, text: str) -> Path:
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _balanced(report) -> bool:  # type: ignore[no-untyped-def]
    return report.rows_read == report.inserted + report.duplicates + sum(report.dropped.values())


def test_mapping_example_from_the_issue(store: EventStore, tmp_path: Path) -> None:
    csv = _write(tmp_path / "log.csv", "CUSTOMER_ID,PRODUCT_ID,TRANSACTION_DT,AMOUNT,SALES_PRICE\n"
                 "0001234,000567,11/1/2000,2,3.50\n"
                 "0001234,000890,11/12/2000,1,1.25\n"
                 "0099,000567,12/31/2000,1,3.50\n")
    report = ingest(store, csv, mapping=parse_mappings(MAP_EXAMPLE))
    assert (report.rows_read, report.inserted, report.duplicates, report.dropped) == (3, 3, 0, {})
    events = store.read_events(columns=("customer_id", "item_id", "timestamp", "quantity")).sort_values("timestamp")
    assert events["customer_id"].tolist() == ["0001234", "0001234", "0099"]
    assert events["item_id"].tolist() == ["000567", "000890", "000567"]
    assert events["timestamp"].dt.strftime("%Y-%m-%d").tolist() == ["2000-11-01", "2000-11-12", "2000-12-31"]
    assert sorted(store.items()["item_id"]) == ["000567", "000890"]
    assert report.events_total == 3 and report.customers_total == 2


ONLINE_RETAIL_SAMPLE = (
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26:00,2.55,17850,United Kingdom\n"
    "536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850,United Kingdom\n"
    "536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850,United Kingdom\n"
    "536366,POST,POSTAGE,1,2010-12-01 08:28:00,18.00,17850,United Kingdom\n"
    "536367,22633,HAND WARMER UNION JACK,6,2010-12-01 08:34:00,1.85,,United Kingdom\n"
    "C536379,71053,WHITE METAL LANTERN,-1,2010-12-01 09:41:00,3.39,17850,United Kingdom\n"
    "536380,BANK CHARGES,Bank Charges,1,2010-12-01 09:45:00,15.00,14911,EIRE\n"
    "536381,gift_0001_40,Dotcomgiftshop Gift Voucher,1,2010-12-01 09:46:00,34.04,,United Kingdom\n"
    "536382,22632,HAND WARMER RED POLKA DOT,12,2010-12-02 10:03:00,1.85,14911,EIRE\n"
)


def test_online_retail_preset(store: EventStore, tmp_path: Path) -> None:
    path = _write(tmp_path / "online_retail.csv.gz", ONLINE_RETAIL_SAMPLE)
    report = ingest(store, path, preset="online-retail")
    assert report.rows_read == 9
    assert report.inserted == 4
    assert report.duplicates == 1
    assert report.dropped == {"missing_customer_id": 1, "non_product_code": 3}
    assert _balanced(report)
    events = store.read_events(("purchase", "return"), columns=("customer_id", "item_id", "event_type", "quantity"))
    returns = events[events["event_type"] == "return"]
    assert returns[["customer_id", "item_id", "quantity"]].values.tolist() == [["17850", "71053", 1.0]]
    items = store.items().set_index("item_id")
    assert "POST" not in items.index and "BANK CHARGES" not in items.index
    # A product only anonymous customers bought still enters the catalogue, not anyone's history.
    assert items.loc["22633", "name"] == "HAND WARMER UNION JACK"
    assert set(items.index) == {"85123A", "71053", "22633", "22632"}


def test_same_file_twice_stores_nothing_new(store: EventStore, tmp_path: Path) -> None:
    path = _write(tmp_path / "online_retail.csv", ONLINE_RETAIL_SAMPLE)
    first = ingest(store, path, preset="online-retail")
    second = ingest(store, path, preset="online-retail")
    assert second.inserted == 0
    assert second.duplicates == first.inserted + first.duplicates
    assert second.events_total == first.events_total == 4
    assert store.count_rows("ingest_runs") == 2


def test_dunnhumby_folder_reads_catalogue_then_transactions(store: EventStore, tmp_path: Path) -> None:
    folder = tmp_path / "dh"
    folder.mkdir()
    _write(folder / "products.csv.gz", "product_id,manufacturer_id,department,brand,product_category,product_type,"
           "package_size\n0026081,2,GROCERY,National,FRZN ICE,ICE - CRUSHED/CUBED,22 LB\n"
           "1095275,69,PASTRY,Private,ROLLS,ROLLS: BAGELS,4 OZ\n")
    _write(folder / "transactions.csv.gz", "household_id,store_id,basket_id,product_id,quantity,sales_value,"
           "retail_disc,coupon_disc,coupon_match_disc,week,transaction_timestamp\n"
           "900,330,31198570044,1095275,2,1.00,0.1,0.0,0.0,1,2017-01-01 11:53:26\n"
           "900,330,31198570047,0026081,1,0.99,0.0,0.5,0.25,1,2017-01-01 12:10:28\n"
           "1465,391,31198570050,0026081,0,0.00,0.0,0.0,0.0,1,2017-01-01 14:46:04\n")
    report = ingest(store, folder, preset="dunnhumby")
    assert (report.rows_read, report.inserted, report.dropped) == (3, 2, {"zero_quantity": 1})
    assert report.catalogue_rows_read == 2
    events = store.read_events(columns=("item_id", "quantity"))
    assert sorted(events["item_id"]) == ["0026081", "1095275"]
    items = store.items().set_index("item_id")
    assert items.loc["0026081", "name"] == "ICE - CRUSHED/CUBED 22 LB"
    assert items.loc["0026081", "category"] == "FRZN ICE"
    assert items.loc["1095275", "price"] == pytest.approx(0.5)
    with store.engine.connect() as conn:
        row = conn.exec_driver_sql("SELECT channel, discount, coupon_discount FROM events WHERE item_id = '0026081'")
        assert tuple(row.one()) == ("store", 0.75, 0.75)


def test_dunnhumby_folder_reads_campaign_contacts_and_redemptions(store: EventStore, tmp_path: Path) -> None:
    folder = tmp_path / "dh"
    folder.mkdir()
    _write(folder / "transactions.csv.gz", "household_id,store_id,basket_id,product_id,quantity,sales_value,"
           "retail_disc,coupon_disc,coupon_match_disc,week,transaction_timestamp\n"
           "900,330,31198570044,1095275,2,1.00,0.1,0.0,0.0,1,2017-01-01 11:53:26\n")
    _write(folder / "campaign_descriptions.csv.gz", "campaign_id,campaign_type,start_date,end_date\n"
           "1,Type B,2017-03-03,2017-04-09\n2,Type A,2017-05-01,2017-06-01\n")
    _write(folder / "campaigns.csv.gz", "campaign_id,household_id\n1,900\n2,900\n2,1465\n9,900\n")
    _write(folder / "coupon_redemptions.csv.gz", "household_id,coupon_upc,campaign_id,redemption_date\n"
           "900,51380041013,1,2017-03-10\n900,51380041013,1,2017-03-10\n")
    _write(folder / "coupons.csv.gz", "coupon_upc,product_id,campaign_id\n51380041013,1095275,1\n5138,77,1\n")
    report = ingest(store, folder, preset="dunnhumby")
    assert report.inserted == 1 and report.marketing_rows_read == 6 and report.offers_upserted == 2
    first = store.offers.get("1")
    assert (first.offer_type, first.scope.items) == ("B", ("1095275", "77"))
    assert first.valid_until == pd.Timestamp("2017-04-10")
    assert first.value == 1.0 and store.offers.get("2").scope.kind == "basket"  # no coupon used, no items listed
    assert report.marketing_inserted == 4 and report.marketing_total == 4  # one unknown campaign, one repeat
    assert report.dropped == {"unknown_campaign": 2}  # the file is read as marketing rows and as offer outcomes
    assert (report.outcome_rows_read, report.outcomes_inserted, report.offer_outcomes_total) == (6, 4, 4)
    outcomes = store.offers.outcomes().sort_values(["outcome", "offer_id", "customer_id"])
    assert outcomes[["customer_id", "offer_id", "outcome", "channel"]].values.tolist() == [
        ["900", "1", "redeemed", "store"], ["900", "1", "sent", None], ["1465", "2", "sent", None],
        ["900", "2", "sent", None]]
    marketing = store.read_marketing().sort_values(["kind", "campaign_id", "customer_id"])
    assert marketing[["customer_id", "campaign_id", "kind"]].values.tolist() == [
        ["900", "1", "contact"], ["1465", "2", "contact"], ["900", "2", "contact"], ["900", "1", "redemption"]]
    assert marketing["timestamp"].min() == pd.Timestamp("2017-03-03")
    again = ingest(store, folder, preset="dunnhumby")
    assert again.marketing_inserted == 0 and store.count_rows("marketing") == 4
    assert again.outcomes_inserted == 0 and store.count_rows("offer_outcomes") == 4


def test_marketing_file_with_an_unknown_kind_names_row_and_value(store: EventStore, tmp_path: Path) -> None:
    path = _write(tmp_path / "contacts.csv", "cust,camp,what,when\nA,c1,sent,2024-01-02\nB,c1,clicked,2024-01-03\n")
    mapping = ["customer_id=cust", "campaign_id=camp", "kind=what", "timestamp=when"]
    with pytest.raises(InputError, match=r"contacts.csv, row 2, column 'kind': unknown marketing kind; valid: "
                                         r"contact, redemption \(value: 'clicked'\)"):
        ingest(store, path, kind="marketing", mapping=parse_mappings(mapping, "marketing"))
    assert store.count_rows("marketing") == 0  # nothing half-written
    ok = _write(tmp_path / "ok.csv", "cust,camp,what,when\nA,c1,sent,2024-01-02\n")
    report = ingest(store, ok, kind="marketing", mapping=parse_mappings(mapping, "marketing"))
    assert (report.kind, report.inserted) == ("marketing", 1)
    assert store.read_marketing()["kind"].tolist() == ["contact"]


def test_bad_rows_are_counted_by_reason_never_lost(store: EventStore, tmp_path: Path) -> None:
    csv = _write(tmp_path / "log.csv", "customer_id,item_id,timestamp,event_type,quantity,price,channel\n"
                 "c1,i1,2024-01-01T10:00:00,purchase,1,2.0,online\n"
                 "c1,i2,2024-01-01T10:00:00,BUY,lots,2.0,web\n"
                 "c2,i1,2024-01-01T10:00:00,teleport,1,2.0,web\n"
                 "c2,i3,2024-01-01T10:00:00,purchase,1,-4,web\n"
                 "c3,,2024-01-01T10:00:00,purchase,1,1,web\n"
                 "c3,i3,2024-01-01T10:00:00,add to cart,1,,shop\n"
                 "c3,i4,2024-01-01T10:00:00,purchase,-2,1,app\n")
    report = ingest(store, csv)
    assert report.dropped == {"bad_quantity": 1, "unknown_event_type": 1, "negative_price": 1, "missing_item_id": 1}
    assert report.inserted == 3 and _balanced(report)
    events = store.read_events(("purchase", "add_to_cart", "return"),
                               columns=("customer_id", "item_id", "event_type", "quantity"))
    assert sorted(map(tuple, events.values.tolist())) == [
        ("c1", "i1", "purchase", 1.0), ("c3", "i3", "add_to_cart", 1.0), ("c3", "i4", "return", 2.0)]
    with store.engine.connect() as conn:
        channels = dict(conn.exec_driver_sql("SELECT item_id, channel FROM events").fetchall())
    assert channels == {"i1": "web", "i3": "store", "i4": "app"}


def test_timezone_offsets_are_stored_as_utc(store: EventStore, tmp_path: Path) -> None:
    csv = _write(tmp_path / "tz.csv", "customer_id,item_id,timestamp\nc1,i1,2024-03-01T10:00:00+02:00\n")
    ingest(store, csv)
    assert store.read_events()["timestamp"].iloc[0] == pd.Timestamp("2024-03-01 08:00:00")


def test_parquet_with_integer_ids(store: EventStore, tmp_path: Path) -> None:
    path = tmp_path / "log.parquet"
    pd.DataFrame({"cust": [17850.0, None, 14911.0], "sku": ["A", "B", "C"],
                  "ts": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"])}).to_parquet(path)
    report = ingest(store, path, mapping=parse_mappings(["customer_id=cust", "item_id=sku", "timestamp=ts"]))
    assert report.inserted == 2 and report.dropped == {"missing_customer_id": 1}
    assert sorted(store.read_events()["customer_id"]) == ["14911", "17850"]


def test_sql_source(store: EventStore, tmp_path: Path) -> None:
    from sqlalchemy import create_engine

    source = f"sqlite:///{tmp_path / 'shop.db'}"
    engine = create_engine(source)
    pd.DataFrame({"who": ["007", "008"], "what": ["x", "y"], "at": ["2024-05-01 09:00:00"] * 2}).to_sql(
        "orders", engine, index=False)
    engine.dispose()
    report = ingest(store, sql="SELECT who, what, at FROM orders", source_url=source,
                    mapping=parse_mappings(["customer_id=who", "item_id=what", "timestamp=at"]))
    assert report.inserted == 2
    assert sorted(store.read_events()["customer_id"]) == ["007", "008"]
    with pytest.raises(InputError, match="query failed"):
        ingest(store, sql="SELECT * FROM missing_table", source_url=source)


def test_a_failed_sql_ingest_releases_the_source_at_once(store: EventStore, tmp_path: Path) -> None:
    """The query's connection closes when the ingest fails, not when the error object is garbage collected:
    an open read would keep locking the source database (and on PostgreSQL sit idle in a transaction)."""
    from sqlalchemy import create_engine

    source = f"sqlite:///{tmp_path / 'shop.db'}"
    engine = create_engine(source, connect_args={"timeout": 0})
    pd.DataFrame({"who": ["007"] * 5, "what": ["x"] * 5, "at": ["2024-05-01 09:00:00"] * 5}).to_sql(
        "orders", engine, index=False)
    with pytest.raises(InputError, match="required column 'timestamp' not found") as failed:
        ingest(store, sql="SELECT who, what FROM orders", source_url=source, chunk_rows=2,
               mapping=parse_mappings(["customer_id=who", "item_id=what"]))
    with engine.begin() as conn:  # a writer needs no reader left on the file
        conn.exec_driver_sql("DROP TABLE orders")
    engine.dispose()
    assert failed.value is not None


def test_customer_and_item_files(store: EventStore, tmp_path: Path) -> None:
    items = _write(tmp_path / "items.csv",
                   "sku,title,cat,price,active\nA,Mug,Kitchen,3.5,yes\nB,Old mug,Kitchen,1,no\n")
    report = ingest(store, items, kind="items", mapping=parse_mappings(
        ["item_id=sku", "name=title", "category=cat"], "items"))
    assert report.kind == "items" and report.inserted == 2
    catalogue = store.items().set_index("item_id")
    assert catalogue.loc["A", "name"] == "Mug" and not bool(catalogue.loc["B", "active"])
    people = _write(tmp_path / "people.csv",
                    "customer_id,consent_personalisation,consent_marketing,preferred_channel\n"
                    "c1,no,yes,e-mail\nc2,yes,no,\n")
    ingest(store, people, kind="customers")
    assert store.personalisation_allowed("c1") is False and store.personalisation_allowed("c2") is True
    bad = _write(tmp_path / "bad_people.csv", "customer_id,consent_personalisation\nc1,yes\nc2,perhaps\n")
    with pytest.raises(InputError) as err:
        ingest(store, bad, kind="customers")
    message = str(err.value)
    assert "row 2" in message and "'perhaps'" in message and "consent_personalisation" in message
    assert store.personalisation_allowed("c1") is False  # the failed file changed nothing


# ----------------------------------------------------------------------------- unusable input
def test_missing_required_column_names_file_and_column(store: EventStore, tmp_path: Path) -> None:
    csv = _write(tmp_path / "log.csv", "CUSTOMER,item_id,timestamp\nc1,i1,2024-01-01\n")
    with pytest.raises(InputError) as err:
        ingest(store, csv)
    message = str(err.value)
    assert "log.csv" in message and "'customer_id'" in message and "CUSTOMER" in message and "--map" in message


def test_unparseable_timestamps_beyond_share_name_first_bad_row(store: EventStore, tmp_path: Path) -> None:
    lines = ["customer_id,item_id,timestamp"] + [f"c{i},i1,2024-01-{i % 28 + 1:02d} 10:00:00" for i in range(50)]
    lines.insert(8, "c99,i1,yesterday-ish")
    csv = _write(tmp_path / "log.csv", "\n".join(lines) + "\n")
    with pytest.raises(InputError) as err:
        ingest(store, csv)
    message = str(err.value)
    assert "row 8" in message and "'yesterday-ish'" in message and "'timestamp'" in message
    assert store.count_events() == 0
    report = ingest(store, csv, max_bad_timestamp_share=0.05)
    assert report.dropped == {"bad_timestamp": 1} and report.inserted == 50


def test_failure_midway_leaves_store_as_it_was(store: EventStore, tmp_path: Path, purchases_csv: Path) -> None:
    before = ingest(store, purchases_csv).events_total
    lines = ["customer_id,item_id,timestamp"] + [f"n{i},i{i},2024-02-01 10:00:00" for i in range(30)]
    lines += [f"m{i},i{i},not a date" for i in range(5)]
    csv = _write(tmp_path / "late_failure.csv", "\n".join(lines) + "\n")
    with pytest.raises(InputError, match="timestamps"):
        ingest(store, csv, chunk_rows=10)  # three chunks are written before the file is refused
    assert store.count_events() == before
    assert store.count_rows("ingest_runs") == 1


@pytest.mark.parametrize(("content", "name", "match"), [
    ("", "empty.csv", "empty"),
    ("customer_id,item_id,timestamp\n", "header.csv", "no data rows"),
    ("customer_id,item_id,timestamp\nc1,i1,2024-01-01\n", "log.xlsx", "unsupported file type"),
])
def test_empty_and_unreadable_files(store: EventStore, tmp_path: Path, content: str, name: str, match: str) -> None:
    path = _write(tmp_path / name, content)
    with pytest.raises(InputError, match=match) as err:
        ingest(store, path)
    assert name in str(err.value)


def test_missing_file_and_mapped_column(store: EventStore, tmp_path: Path, purchases_csv: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        ingest(store, tmp_path / "nope.csv")
    with pytest.raises(InputError, match="'CUST_NO'"):
        ingest(store, purchases_csv, mapping={"customer_id": "CUST_NO"})


def test_unknown_preset_and_bad_map_list_valid_values(store: EventStore, purchases_csv: Path) -> None:
    with pytest.raises(ConfigurationError, match="online-retail"):
        ingest(store, purchases_csv, preset="walmart")
    with pytest.raises(ConfigurationError, match="valid: customer_id"):
        parse_mappings(["shopper=CUST"])
    with pytest.raises(ConfigurationError, match="canonical=source_column"):
        parse_mappings(["customer_id"])


@pytest.mark.parametrize(("name", "text"), [
    ("bom.csv", "\ufeffcustomer_id,item_id,timestamp\nc1,i1,2024-01-01 10:00\n"),
    ("tabs.tsv.gz", "customer_id\titem_id\ttimestamp\nc1\ti1\t2024-01-01 10:00\n"),
    ("pipes.txt", "customer_id|item_id|timestamp\nc1|i1|2024-01-01 10:00\n"),
])
def test_delimiters_and_byte_order_marks(store: EventStore, tmp_path: Path, name: str, text: str) -> None:
    report = ingest(store, _write(tmp_path / name, text), max_bad_timestamp_share=0.0)
    assert (report.inserted, report.dropped) == (1, {})
    assert store.read_events()["customer_id"].tolist() == ["c1"]


def test_semicolons_with_decimal_commas(store: EventStore, tmp_path: Path) -> None:
    path = _write(tmp_path / "eu.csv", "customer_id;item_id;timestamp;price\n"
                  "c1;i1;2024-01-01 10:00;1,5\nc2;i2;2024-01-01 10:00;1.234,25\n")
    with pytest.raises(InputError, match=r"no usable rows.*bad_price=2"):
        ingest(store, path)
    report = ingest(store, path, decimal=",")
    assert (report.inserted, report.dropped) == (2, {})
    with store.engine.connect() as conn:
        stored = dict(conn.exec_driver_sql("SELECT customer_id, price FROM events").fetchall())
    assert stored == {"c1": 1.5, "c2": 1234.25}
    with pytest.raises(ConfigurationError, match=r"valid: '\.', ','"):
        ingest(store, path, decimal=";")


def test_sql_source_on_postgresql(store: EventStore, pg_schema_url: str) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(pg_schema_url)
    pd.DataFrame({"who": ["0042"], "what": ["x"], "at": pd.to_datetime(["2024-05-01 09:00:00"])}).to_sql(
        "orders", engine, index=False)
    engine.dispose()
    plain = pg_schema_url.replace("postgresql+psycopg://", "postgresql://")
    report = ingest(store, sql="SELECT who, what, at FROM orders", source_url=plain,
                    mapping=parse_mappings(["customer_id=who", "item_id=what", "timestamp=at"]))
    assert report.inserted == 1 and report.sources == [f"query on {plain}"]
    assert store.read_events()["timestamp"].tolist() == [pd.Timestamp("2024-05-01 09:00:00")]


def test_rows_that_once_broke_training_are_dropped_and_counted(store: EventStore, purchases_csv: Path,
                                                               tmp_path: Path) -> None:
    """One row with inf, 1e308, a date in 9999 or 2030, or an over-long id stored once made `reco train`,
    `reco score customers` and the exports crash for the whole store; now each is counted in `dropped`."""
    from reco.registry import ModelRegistry
    from training.train import train

    bad = ("C001,I001,2024-01-05 10:00:00,inf,1.0\n"
           "C001,I001,2024-01-05 10:00:00,1e308,1.0\n"
           "C001,I002,2024-01-05 10:00:00,1,1e400\n"
           "C001,I002,2024-01-05 10:00:00,NaN,1.0\n"
           "C001,I003,9999-12-31 23:59:59,1,1.0\n"
           "C001,I003,2030-01-01 00:00:00,1,1.0\n"
           "C001,I003,1970-01-01 00:00:00,1,1.0\n"
           f"{'C' * 129},I003,2024-01-05 10:00:00,1,1.0\n")
    source = tmp_path / "with_bad_rows.csv"
    frame = pd.read_csv(purchases_csv)[["customer_id", "item_id", "timestamp", "quantity", "price"]]
    source.write_text(frame.to_csv(index=False) + bad)
    report = ingest(store, source)
    assert report.dropped == {"bad_quantity": 3, "bad_price": 1, "bad_timestamp": 1, "timestamp_in_future": 1,
                              "timestamp_too_early": 1, "id_too_long": 1}
    assert report.inserted == len(frame) and _balanced(report)
    result = train(store, ModelRegistry(tmp_path / "models"), params={"factors": 4, "iterations": 3})
    assert result["promoted"] and result["events"] == len(frame)


def test_a_column_named_twice_is_refused_naming_it(store: EventStore, tmp_path: Path) -> None:
    csv = _write(tmp_path / "twice.csv", "customer_id,item_id,timestamp,customer_id\nc1,i1,2024-01-01,c2\n")
    with pytest.raises(InputError, match=r"column 'customer_id' appears twice in the header \(columns 1 and 4\)"):
        ingest(store, csv)
    parquet = tmp_path / "twice.parquet"
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table([["c1"], ["i1"], ["2024-01-01"], ["x"]], names=["customer_id", "item_id", "timestamp",
                                                                             "item_id"]), parquet)
    with pytest.raises(InputError, match="'item_id' appears twice"):
        ingest(store, parquet)
    assert store.count_events() == 0


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_latin1_is_refused_naming_the_line_or_read_with_encoding(store: EventStore, tmp_path: Path,
                                                                 suffix: str) -> None:
    """Two latin-1 customers "Müller" and "Mäller" once merged into one "M\ufffdller" on both stores."""
    text = "customer_id,item_id,timestamp\nSchmidt,i1,2024-01-01\nMüller,i1,2024-01-02\nMäller,i2,2024-01-03\n"
    path = tmp_path / f"people{suffix}"
    if suffix.endswith(".gz"):
        with gzip.open(path, "wb") as fh:
            fh.write(text.encode("latin-1"))
    else:
        path.write_bytes(text.encode("latin-1"))
    with pytest.raises(InputError, match=r"not utf-8-sig text: byte 0xFC in line 3 \(data row 2\).*--encoding"):
        ingest(store, path)
    assert store.count_events() == 0
    report = ingest(store, path, encoding="latin-1")
    assert report.inserted == 3
    assert set(store.customers()["customer_id"]) == {"Schmidt", "Müller", "Mäller"}
    with pytest.raises(ConfigurationError, match="unknown encoding 'klingon'"):
        ingest(store, path, encoding="klingon")


def test_sql_sources_are_read_only_and_one_select(store: EventStore, tmp_path: Path, pg_schema_url: str) -> None:
    """`--sql "DROP TABLE orders"` once dropped the source's table (and `DROP ...; COMMIT` on PostgreSQL)."""
    from sqlalchemy import create_engine, inspect

    from reco.ingest.sources import single_select

    assert single_select("SELECT 'a;b' AS x -- a comment; DROP\n;") == "SELECT 'a;b' AS x -- a comment; DROP"
    for bad, says in (("DROP TABLE orders", "begins with 'DROP'"), ("SELECT 1; DROP TABLE orders", "2 statements"),
                      ("DROP TABLE orders; COMMIT", "2 statements"), ("", "0 statements")):
        with pytest.raises(InputError, match=says):
            single_select(bad)
    mapping = parse_mappings(["customer_id=who", "item_id=what", "timestamp=at"])
    sqlite_source = f"sqlite:///{tmp_path / 'shop.db'}"
    for source in (sqlite_source, pg_schema_url):
        engine = create_engine(source)
        pd.DataFrame({"who": ["007"], "what": ["x"], "at": ["2024-05-01 09:00:00"]}).to_sql("orders", engine,
                                                                                             index=False)
        for attack in ("DROP TABLE orders", "SELECT 1; DROP TABLE orders; COMMIT"):
            with pytest.raises(InputError, match="--sql must be"):
                ingest(store, sql=attack, source_url=source, mapping=mapping)
        # a SELECT that writes (a data-modifying WITH on PostgreSQL) fails in the read-only transaction
        writes = ("WITH gone AS (DELETE FROM orders RETURNING *) SELECT * FROM gone" if source == pg_schema_url
                  else "WITH x AS (SELECT 1) SELECT * FROM orders")
        if source == pg_schema_url:
            with pytest.raises(InputError, match="read-only transaction"):
                ingest(store, sql=writes, source_url=source, mapping=mapping)
        assert inspect(engine).has_table("orders")
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM orders").scalar_one() == 1
        engine.dispose()
    with pytest.raises(InputError) as unsupported:
        ingest(store, sql="SELECT 1", source_url="mysql://shop:hunter2@db.example/shop", mapping=mapping)
    assert "hunter2" not in str(unsupported.value) and "***" in str(unsupported.value)


def test_the_command_lines_names_agree_with_the_library() -> None:
    from reco.ingest import KINDS, PRESETS
    from reco.store.tables import api_keys
    from reco.vocabulary import KINDS as CLI_KINDS
    from reco.vocabulary import PRESET_NAMES, ROLES

    assert (*KINDS, "offers") == CLI_KINDS and tuple(sorted(PRESETS)) == PRESET_NAMES  # offers: reco.ingest.offers
    assert api_keys.c.role.type.length >= max(len(r) for r in ROLES)
