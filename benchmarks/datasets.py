"""Where the shared real data sets live, and the ingest preset for each (used by the benchmarks)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"
DATASETS: dict[str, tuple[Path, str]] = {
    "online_retail": (SHARED / "online_retail" / "online_retail.csv.gz", "online-retail"),
    "dunnhumby": (SHARED / "dunnhumby_complete_journey", "dunnhumby"),
}
