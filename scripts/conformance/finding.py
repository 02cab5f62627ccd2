"""One finding of a conformance check: where, which rule, and what is wrong."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Finding:
    where: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: [{self.rule}] {self.message}"
