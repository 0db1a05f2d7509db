"""Eligibility rules: conditions over customer attributes, written as data and checked when stored.

An offer's ``rules`` is a list of conditions that must all hold. Each names an attribute, an operator
and a value; an unknown attribute or an operator the attribute does not take is refused, with the valid
ones listed. In JSON or YAML::

    [{"attribute": "segment", "op": "in", "value": ["at risk", "hibernating"]},
     {"attribute": "churn_probability", "op": "between", "value": [0.3, 0.9]},
     {"attribute": "days_since_last_purchase", "op": ">=", "value": 30},
     {"attribute": "bought_category", "op": "within_days", "value": "MEAT", "days": 90},
     {"attribute": "bought_item", "op": "not_within_days", "value": "1004906", "days": 365}]

Attributes: the customer scores of ``reco score customers`` (segment, value tier, churn probability,
CLV, ...), the preferred channel, days since the last purchase, and whether they bought a category or an
item within a number of days.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

NUMERIC_OPS: tuple[str, ...] = ("<", "<=", ">", ">=", "==", "between")
SET_OPS: tuple[str, ...] = ("in", "not_in")
HISTORY_OPS: tuple[str, ...] = ("within_days", "not_within_days")

ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "churn_probability": NUMERIC_OPS,
    "clv_12m": NUMERIC_OPS,
    "expected_purchases_90d": NUMERIC_OPS,
    "days_since_last_purchase": NUMERIC_OPS,
    "orders": NUMERIC_OPS,
    "spend": NUMERIC_OPS,
    "segment": SET_OPS,
    "value_tier": SET_OPS,
    "preferred_channel": SET_OPS,
    "bought_category": HISTORY_OPS,
    "bought_item": HISTORY_OPS,
}


class Condition(BaseModel):
    """One condition of an eligibility rule (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    attribute: str
    op: str
    value: Any
    days: int | None = Field(default=None, ge=1, le=3650)

    @model_validator(mode="after")
    def _valid(self) -> Condition:
        ops = ATTRIBUTES.get(self.attribute)
        if ops is None:
            raise ValueError(f"unknown attribute {self.attribute!r}; valid: {', '.join(ATTRIBUTES)}")
        if self.op not in ops:
            raise ValueError(f"attribute {self.attribute!r} takes no operator {self.op!r}; valid: {', '.join(ops)}")
        value = self.value
        if self.op == "between":
            if (not isinstance(value, list | tuple) or len(value) != 2
                    or not all(_is_number(v) for v in value) or value[0] > value[1]):
                raise ValueError(f"{self.attribute} between needs [low, high] numbers, low <= high; got {value!r}")
        elif ops is NUMERIC_OPS and not _is_number(value):
            raise ValueError(f"{self.attribute} {self.op} needs a number; got {value!r}")
        elif ops is SET_OPS and (not isinstance(value, list | tuple) or not value
                                 or not all(isinstance(v, str) and v for v in value)):
            raise ValueError(f"{self.attribute} {self.op} needs a list of names; got {value!r}")
        elif ops is HISTORY_OPS:
            if not isinstance(value, str) or not value:
                what = self.attribute.split("_")[1]
                raise ValueError(f"{self.attribute} {self.op} needs a {what} name; got {value!r}")
            if self.days is None:
                raise ValueError(f"{self.attribute} {self.op} needs 'days' (how far back to look)")
        if ops is not HISTORY_OPS and self.days is not None:
            raise ValueError(f"'days' applies to bought_category and bought_item only, not {self.attribute}")
        return self


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value and abs(value) < 1e12


def evaluate_rules(rules: tuple[Condition, ...] | list[Condition], attributes: dict[str, Any],
                   bought: dict[str, Any], bought_categories: dict[str, Any], at: Any) -> list[str]:
    """The rules that do not hold for a customer, each in plain words (empty: all hold). ``attributes``: the
    customer's scores and facts (segment, churn_probability, days_since_last_purchase, ...); ``bought`` and
    ``bought_categories``: last purchase time per item and per category. A missing attribute fails its rule."""
    failed: list[str] = []
    for rule in rules:
        if rule.op in HISTORY_OPS:
            last = (bought if rule.attribute == "bought_item" else bought_categories).get(rule.value)
            within = last is not None and (at - last).days <= (rule.days or 0)
            holds = within if rule.op == "within_days" else not within
            verb = "bought" if rule.op == "within_days" else "did not buy"
            text = f"{verb} {rule.value} in the last {rule.days} days"
        else:
            value = attributes.get(rule.attribute)
            text = f"{rule.attribute} {rule.op} {rule.value} (is {value})"
            if value is None or (isinstance(value, float) and value != value):
                holds = False
            elif rule.op in SET_OPS:
                holds = (value in rule.value) == (rule.op == "in")
            elif rule.op == "between":
                holds = rule.value[0] <= value <= rule.value[1]
            else:
                holds = {"<": value < rule.value, "<=": value <= rule.value, ">": value > rule.value,
                         ">=": value >= rule.value, "==": value == rule.value}[rule.op]
        if not holds:
            failed.append(text)
    return failed
