"""Kubernetes' syntax rules for names, labels and annotation keys (shared by the analyzer and the
organization config)."""

from __future__ import annotations

import re
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
