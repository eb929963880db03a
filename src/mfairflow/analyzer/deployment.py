"""What the deploy step decides: the production token and the code package's address."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Deployment:
    """What the deploy step decided: the production token and the code package."""

    production_token: str
    code_package_url: Optional[str]
    code_package_sha: Optional[str]
