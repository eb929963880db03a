"""Kubernetes' syntax rules for names, labels and annotation keys (shared by the analyzer and the
organization config)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Optional

LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?)$")


def valid_key(key: str) -> bool:
    """Kubernetes' syntax for label and annotation keys: an optional DNS prefix, a name."""
    prefix, _, name = key.rpartition("/")
    return bool(LABEL_NAME.fullmatch(name)) and (
        not prefix or (DNS_SUBDOMAIN.fullmatch(prefix) is not None and len(prefix) <= 253)
    )


TOLERATION_KEYS = ("key", "operator", "value", "effect", "toleration_seconds", "tolerationSeconds")


def toleration_problems(item: dict) -> list[str]:
    """What is wrong with a toleration's keys and fields (its seconds: ``toleration_seconds``)."""
    problems = ["keys"] if any(k not in TOLERATION_KEYS for k in item) else []
    if item.get("key") is not None and not valid_key(str(item["key"])):
        problems.append("key")
    if item.get("value") is not None and not LABEL_VALUE.fullmatch(str(item["value"])):
        problems.append("value")
    if item.get("operator") not in (None, "Equal", "Exists"):
        problems.append("operator")
    if item.get("effect") not in (None, "NoSchedule", "PreferNoSchedule", "NoExecute"):
        problems.append("effect")
    return problems


def toleration_seconds(value) -> Optional[int]:
    """A toleration's ``tolerationSeconds`` (an int64 in Kubernetes), or None when unset.

    Raises ValueError when the value is not a whole number Kubernetes can hold.
    """
    if value is None:
        return None
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,19}", value.strip()):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > 2**63 - 1:
        raise ValueError(f"toleration_seconds {value!r} is not a whole number of seconds")
    return value


# Kubernetes' quantity grammar (k8s.io/apimachinery/pkg/api/resource/quantity.go):
#   <quantity> ::= <signedNumber><suffix>;  <number> ::= <digits> | <digits>.<digits> |
#   <digits>. | .<digits>;  <suffix> ::= <binarySI> | <decimalExponent> | <decimalSI>;
#   <binarySI> ::= Ki | Mi | Gi | Ti | Pi | Ei;  <decimalSI> ::= n | u | m | "" | k | M | G | T
#   | P | E;  <decimalExponent> ::= "e" <signedNumber> | "E" <signedNumber> (whole numbers).
_QUANTITY = re.compile(
    r"([+-]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+|[KMGTPE]i|[numkMGTPE])?", re.ASCII
)
_SUFFIX_FACTORS = {
    **{s: 1024**i for i, s in enumerate(("Ki", "Mi", "Gi", "Ti", "Pi", "Ei"), 1)},
    **{s: 1000**i for i, s in enumerate(("k", "M", "G", "T", "P", "E"), 1)},
}
MAX_RESOURCE_COUNT = 2**63 - 1
"""The largest amount of a countable resource: Kubernetes counts them in 64-bit integers."""


def quantity_value(text: str) -> Optional[Decimal]:
    """The amount a Kubernetes quantity string stands for, or None when it is no quantity."""
    match = _QUANTITY.fullmatch(text)
    if match is None:
        return None
    sign, digits, suffix = match.groups()
    number = Decimal(sign + (digits if not digits.endswith(".") else digits[:-1] or "0"))
    if not suffix:
        return number
    if suffix[0] in "eE" and len(suffix) > 1:
        exponent = int(suffix[1:])
        if abs(exponent) > 100:  # far beyond any resource; keeps Decimal arithmetic small
            return Decimal("Infinity") if number and exponent > 0 else Decimal(0)
        return number.scaleb(exponent)
    if suffix in ("n", "u", "m"):
        return number.scaleb({"n": -9, "u": -6, "m": -3}[suffix])
    return number * _SUFFIX_FACTORS[suffix]
