"""Fit every model on the training side of a temporal split and score both tasks."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from reco.evaluation.metrics import ranking_metrics
from reco.evaluation.split import TASKS, TemporalSplit, temporal_split
from reco.exceptions import ConfigurationError
from reco.models import Recommender

logger = logging.getLogger(__name__)

COLUMNS = ("ndcg", "recall", "precision", "map", "hit_rate", "coverage")


@dataclass
class Evaluation:
    """Metrics per task and model, with the split it was measured on."""

    k: int
    holdout_days: float
    cut: pd.Timestamp
    end: pd.Timestamp
    default_model: str | None
    tasks: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    fit_seconds: dict[str, float] = field(default_factory=dict)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    tuned: bool = False
    # task -> model -> source -> share of the holdout items that source proposed (models with stages)
    candidate_recall: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "default_model": self.default_model, "k": self.k, "holdout_days": self.holdout_days, "tuned": self.tuned,
            "cut": self.cut.isoformat(), "end": self.end.isoformat(), "tasks": self.tasks,
            "fit_seconds": self.fit_seconds, "params": self.params, "candidate_recall": self.candidate_recall,
        }


def evaluate_models(
    events: pd.DataFrame,
    models: dict[str, Recommender],
    holdout_days: float = 30.0,
    k: int = 10,
    tasks: tuple[str, ...] = TASKS,
    default_model: str | None = None,
    split: TemporalSplit | None = None,
) -> Evaluation:
    """Fit each model on events before the cut and measure it on the holdout, per task.

    Each model gets the matrix its ``input_spec`` asks for, built as of the cut. In task ``all``
    models may recommend what the customer bought before; in ``new`` they may not, and models that
    only re-rank past purchases (``discovers_new_items`` False) are left out of it.
    """
    unknown = set(tasks) - set(TASKS)
    if unknown:
        raise ConfigurationError(f"unknown task(s) {sorted(unknown)}; valid: {', '.join(TASKS)}")
    if not isinstance(k, int) or k < 1:
        raise ConfigurationError(f"k must be a positive integer, got {k!r}")
    split = split or temporal_split(events, holdout_days)
    result = Evaluation(k=k, holdout_days=holdout_days, cut=split.cut, end=split.end, default_model=default_model,
                        tasks={t: {} for t in tasks})
    for name, model in models.items():
        spec = model.input_spec
        history, _ = spec.build(split.train, now=split.cut, mapping=split.mapping, window=False)
        started = time.perf_counter()
        model.fit_events(split.train, split.mapping, now=split.cut)
        result.fit_seconds[name] = round(time.perf_counter() - started, 3)
        result.params[name] = {"model": model.name, **model.get_params(), "input": spec.to_dict()}
        for task in tasks:
            if task == "new" and not model.discovers_new_items:
                continue
            users = split.users[task]
            ids, _ = model.recommend(users, history[users], n=k, filter_already_purchased=task == "new")
            result.tasks[task][name] = ranking_metrics(ids, split.relevant[task], k, split.mapping.n_items)
            if hasattr(model, "candidate_sources"):
                result.candidate_recall.setdefault(task, {})[name] = candidate_recall(
                    model.candidate_sources(users, history[users]), split.relevant[task], split.mapping.n_items)
        logger.info("evaluate: %s fitted in %.1fs; %s", name, result.fit_seconds[name], "; ".join(
            f"{t} ndcg@{k}={result.tasks[t][name][f'ndcg@{k}']:.4f}" for t in tasks if name in result.tasks[t]))
    return result


def candidate_recall(sources: dict[str, np.ndarray], relevant: list[np.ndarray], n_items: int) -> dict[str, float]:
    """Share of the relevant (holdout) items each source proposed, and all of them together (keys
    ``row * n_items + item``, ``row`` the customer's position in ``relevant``)."""
    sizes = np.array([len(r) for r in relevant], dtype=np.int64)
    wanted = np.repeat(np.arange(len(relevant), dtype=np.int64), sizes) * n_items + (
        np.concatenate(relevant) if len(relevant) else np.zeros(0, dtype=np.int64))
    if not len(wanted):
        return {}
    out = {name: round(float(np.isin(wanted, keys).mean()), 4) for name, keys in sources.items()}
    out["total"] = round(float(np.isin(wanted, np.concatenate(list(sources.values()))).mean()), 4)
    return out


def format_table(evaluation: Evaluation) -> str:
    """A plain-text table per task, best nDCG first."""
    k = evaluation.k
    lines = [f"holdout: {evaluation.cut:%Y-%m-%d} .. {evaluation.end:%Y-%m-%d} ({evaluation.holdout_days:g} days), "
             f"k={k}, {'tuned parameters (validation window before the holdout)' if evaluation.tuned else 'defaults'}"]
    for task, by_model in evaluation.tasks.items():
        users = next(iter(by_model.values()))["users"] if by_model else 0
        lines.append(f"\ntask {task} ({users:,} test customers)")
        header = f"{'model':<20}" + "".join(f"{c + '@' + str(k):>14}" for c in COLUMNS) + f"{'fit s':>9}"
        lines.append(header)
        lines.append("-" * len(header))
        ranked = sorted(by_model.items(), key=lambda kv: -kv[1][f"ndcg@{k}"])
        for name, metrics in ranked:
            mark = "*" if name == evaluation.default_model else " "
            lines.append(f"{mark}{name:<19}" + "".join(f"{metrics[f'{c}@{k}']:>14.4f}" for c in COLUMNS)
                         + f"{evaluation.fit_seconds.get(name, 0.0):>9.2f}")
        for name, recall in evaluation.candidate_recall.get(task, {}).items():
            lines.append(f"candidate recall of {name} (share of the holdout items proposed): "
                         + ", ".join(f"{source} {value:.4f}" for source, value in recall.items()))
    return "\n".join(lines)
