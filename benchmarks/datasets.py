"""Where the shared real data sets live, and the ingest preset for each (used by the benchmarks)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"
DATASETS: dict[str, tuple[Path, str]] = {
    "online_retail": (SHARED / "online_retail" / "online_retail.csv.gz", "online-retail"),
    "dunnhumby": (SHARED / "dunnhumby_complete_journey", "dunnhumby"),
}

CDNOW_CACHE = ROOT / "var" / "cache" / "CDNOW_sample.txt"


def fetch_cdnow_sample(cache: Path = CDNOW_CACHE) -> Path:
    """The 1/10 CDNOW sample (Fader & Hardie) from the lifetimes==0.11.3 wheel on the package index, cached.

    Raises OSError naming pip's complaint when the index cannot be reached.
    """
    if cache.exists():
        return cache
    cache.parent.mkdir(parents=True, exist_ok=True)
    wheel_dir = cache.parent / "lifetimes"
    done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "lifetimes==0.11.3",
                           "-d", str(wheel_dir)], capture_output=True, text=True)
    wheels = sorted(wheel_dir.glob("*.whl"))
    if done.returncode or not wheels:
        raise OSError(f"cannot download lifetimes==0.11.3 for CDNOW: {done.stderr.strip()[-300:]}")
    with zipfile.ZipFile(wheels[0]) as zf:
        tmp = cache.with_suffix(".tmp")
        tmp.write_bytes(zf.read("lifetimes/datasets/CDNOW_sample.txt"))
        tmp.replace(cache)
    return cache


def read_cdnow(path: Path) -> pd.DataFrame:
    """customer_id, timestamp, cds, value: one row per purchase record."""
    df = pd.read_csv(path, sep=r"\s+", header=None, names=["master", "customer_id", "date", "cds", "value"],
                     dtype={"date": str, "customer_id": str})
    df["timestamp"] = pd.to_datetime(df["date"], format="%Y%m%d")
    return df[["customer_id", "timestamp", "cds", "value"]]
