"""Customer lifetime value: BG/NBD (purchases, P(alive)) and Gamma-Gamma (spend per purchase), in scipy.

Fader, Hardie & Lee (2005), "Counting your customers the easy way" and "RFM and CLV". Both are fitted
by maximum likelihood (L-BFGS-B on log parameters). The maintained successor of ``lifetimes`` (PyMC
Marketing) needs a Bayesian stack, so this is the compact version; ``tests/reco/customers`` checks it
against the published CDNOW estimates.

Inputs are the usual RFM summary per customer, in one time unit (days, or weeks for CDNOW):
``frequency`` x (repeat purchase periods), ``recency`` t_x (first to last purchase), ``T`` (first
purchase to the end of the calibration period) and, for Gamma-Gamma, ``monetary_value`` (mean value
of the repeat purchases).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1

from reco.exceptions import ConfigurationError, InputError, NotFittedError

# Box for the log-parameters of the fits below (e^-20 .. e^20): wide enough for any shape or scale a
# purchase log gives, narrow enough that the line search never steps to where the likelihood overflows.
LOG_BOUNDS = (-20.0, 20.0)


def rfm_summary(events: pd.DataFrame, end: pd.Timestamp, unit_days: float = 1.0,
                value_column: str = "value") -> pd.DataFrame:
    """Per customer: frequency, recency, T (in units of ``unit_days``) and monetary_value, as of ``end``.

    ``events`` has customer_id, timestamp and ``value_column``; purchases on the same day are one
    purchase (their values summed), as in the papers. ``end`` is the last day observed (inclusive, as
    ``lifetimes``' observation_period_end): purchases on later days do not count, T runs to that day.
    """
    missing = [c for c in ("customer_id", "timestamp", value_column) if c not in events.columns]
    if missing:
        raise InputError(f"missing column(s) {missing}; have {list(events.columns)}", source="rfm events")
    end = pd.Timestamp(end).normalize()
    ts = pd.to_datetime(events["timestamp"])
    keep = ts.dt.normalize() <= end
    days = pd.DataFrame({"customer_id": events.loc[keep, "customer_id"].astype(str).to_numpy(),
                         "day": ts[keep].dt.normalize().to_numpy(),
                         "value": pd.to_numeric(events.loc[keep, value_column], errors="coerce").fillna(0).to_numpy()})
    daily = days.groupby(["customer_id", "day"], sort=True)["value"].sum().reset_index()
    g = daily.groupby("customer_id", sort=True)
    first, last = g["day"].min(), g["day"].max()
    unit = pd.Timedelta(days=float(unit_days))
    out = pd.DataFrame({
        "frequency": (g.size() - 1).astype(float),
        "recency": (last - first) / unit,
        "T": (end - first) / unit,
    })
    first_value = g["value"].first()
    repeat_total = g["value"].sum() - first_value
    out["monetary_value"] = np.where(out["frequency"] > 0, repeat_total / out["frequency"].clip(lower=1), 0.0)
    out.index.name = "customer_id"
    return out


def _check_rfm(frame: pd.DataFrame, columns: tuple[str, ...]) -> tuple[np.ndarray, ...]:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"missing column(s) {missing}; have {list(frame.columns)}", source="rfm summary")
    arrays = tuple(frame[c].to_numpy(dtype=float) for c in columns)
    for name, values in zip(columns, arrays, strict=True):
        bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
        if len(bad):
            raise InputError("must be a finite number >= 0", source="rfm summary", column=name, row=int(bad[0]),
                             value=float(values[bad[0]]))
    return arrays


class BetaGeoFitter:
    """BG/NBD: purchases follow Poisson(lambda) while alive, lambda ~ Gamma(r, alpha); after each purchase the
    customer drops out with probability p ~ Beta(a, b)."""

    def __init__(self, penalizer: float = 0.0) -> None:
        self.penalizer = penalizer

    def fit(self, summary: pd.DataFrame) -> BetaGeoFitter:
        x, t_x, T = _check_rfm(summary, ("frequency", "recency", "T"))
        if (t_x > T + 1e-9).any():
            row = int(np.flatnonzero(t_x > T + 1e-9)[0])
            raise InputError("recency is after T", source="rfm summary", column="recency", row=row, value=t_x[row])

        def nll(log_params: np.ndarray) -> float:
            params = np.exp(log_params)
            return -float(self._log_likelihood(params, x, t_x, T).sum()) + self.penalizer * float((params ** 2).sum())

        start = np.log([1.0, max(float(T.mean()), 1.0), 1.0, 1.0])
        # Bounded log-parameters: an unbounded line search can step to where the likelihood overflows.
        result = minimize(nll, start, method="L-BFGS-B", bounds=[LOG_BOUNDS] * 4)
        if not np.isfinite(result.fun):
            raise ConfigurationError(f"BG/NBD did not converge: {result.message}")
        self.r_, self.alpha_, self.a_, self.b_ = (float(v) for v in np.exp(result.x))
        self.log_likelihood_ = -float(result.fun)
        return self

    @staticmethod
    def _log_likelihood(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, a, b = params
        a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        a2 = betaln(a, b + x) - betaln(a, b)
        a3 = -(r + x) * np.log(alpha + T)
        with np.errstate(divide="ignore", invalid="ignore"):
            a4 = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + t_x),
                          -np.inf)
        return a1 + a2 + np.logaddexp(a3, a4)

    @property
    def params_(self) -> dict[str, float]:
        self._check_fitted()
        return {"r": self.r_, "alpha": self.alpha_, "a": self.a_, "b": self.b_}

    def _check_fitted(self) -> None:
        if not hasattr(self, "r_"):
            raise NotFittedError("this BetaGeoFitter is not fitted yet; call fit first")

    def _odds_dead(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, a, b = self.r_, self.alpha_, self.a_, self.b_
        return np.where(x > 0, a / np.maximum(b + x - 1, 1e-12) * ((alpha + T) / (alpha + t_x)) ** (r + x), 0.0)

    def probability_alive(self, summary: pd.DataFrame) -> np.ndarray:
        self._check_fitted()
        x, t_x, T = _check_rfm(summary, ("frequency", "recency", "T"))
        return 1.0 / (1.0 + self._odds_dead(x, t_x, T))

    def expected_purchases(self, t: float, summary: pd.DataFrame) -> np.ndarray:
        """Expected purchases in the next ``t`` time units for each customer (conditional on their history)."""
        self._check_fitted()
        x, t_x, T = _check_rfm(summary, ("frequency", "recency", "T"))
        r, alpha, a, b = self.r_, self.alpha_, self.a_, self.b_
        z = t / (alpha + T + t)
        head = (a + b + x - 1) / (a - 1)
        tail = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z)
        return head * tail / (1.0 + self._odds_dead(x, t_x, T))


class GammaGammaFitter:
    """Gamma-Gamma: a customer's purchase values are Gamma(p, nu), nu ~ Gamma(q, v); independent of frequency."""

    def __init__(self, penalizer: float = 0.0) -> None:
        self.penalizer = penalizer

    def fit(self, summary: pd.DataFrame) -> GammaGammaFitter:
        """Fit on repeat buyers (frequency > 0, monetary_value > 0); others carry no spend information."""
        x, m = _check_rfm(summary, ("frequency", "monetary_value"))
        keep = (x > 0) & (m > 0)
        if keep.sum() < 2:
            raise InputError(f"Gamma-Gamma needs repeat buyers with a positive value; got {int(keep.sum())}",
                             source="rfm summary")
        x, m = x[keep], m[keep]

        def nll(log_params: np.ndarray) -> float:
            p, q, v = np.exp(log_params)
            ll = (gammaln(p * x + q) - gammaln(p * x) - gammaln(q) + q * np.log(v) + (p * x - 1) * np.log(m)
                  + p * x * np.log(x) - (p * x + q) * np.log(x * m + v))
            return -float(ll.sum()) + self.penalizer * float((np.exp(log_params) ** 2).sum())

        result = minimize(nll, np.log([1.0, 1.0, max(float(m.mean()), 1.0)]), method="L-BFGS-B",
                          bounds=[LOG_BOUNDS] * 3)
        if not np.isfinite(result.fun):
            raise ConfigurationError(f"Gamma-Gamma did not converge: {result.message}")
        self.p_, self.q_, self.v_ = (float(v) for v in np.exp(result.x))
        self.n_customers_ = int(keep.sum())
        return self

    @property
    def params_(self) -> dict[str, float]:
        if not hasattr(self, "p_"):
            raise NotFittedError("this GammaGammaFitter is not fitted yet; call fit first")
        return {"p": self.p_, "q": self.q_, "v": self.v_}

    def expected_spend(self, summary: pd.DataFrame) -> np.ndarray:
        """Expected value of a customer's next purchase (population mean for customers without repeats)."""
        params = self.params_
        p, q, v = params["p"], params["q"], params["v"]
        x, m = _check_rfm(summary, ("frequency", "monetary_value"))
        population = p * v / (q - 1) if q > 1 else np.nan
        weight = p * x / (p * x + q - 1)
        return np.where(x > 0, (1 - weight) * population + weight * m, population)


def clv(bgf: BetaGeoFitter, ggf: GammaGammaFitter, summary: pd.DataFrame, months: int = 12,
        monthly_discount: float = 0.01, unit_days: float = 1.0) -> np.ndarray:
    """Discounted value of the next ``months``: expected purchases per month x expected spend, discounted."""
    if not (isinstance(months, int) and months >= 1):
        raise ConfigurationError(f"months must be an integer >= 1, got {months!r}")
    if not 0 <= monthly_discount < 1:
        raise ConfigurationError(f"monthly_discount must be in [0, 1), got {monthly_discount!r}")
    month = 30.0 / unit_days
    spend = ggf.expected_spend(summary)
    total = np.zeros(len(summary))
    previous = np.zeros(len(summary))
    for i in range(1, months + 1):
        cumulative = bgf.expected_purchases(month * i, summary)
        total += (cumulative - previous) * spend / (1 + monthly_discount) ** i
        previous = cumulative
    return total
