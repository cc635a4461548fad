"""Faults on demand, shared by the platform emulator and the local Slack: the next N calls, or a share."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Dice:
    next_mode: str | None = None
    next_count: int = 0
    rates: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def draw(self) -> str | None:
        """The fault this call gets, if any: the queued ones first, then by their rates."""
        if self.next_count > 0 and self.next_mode:
            self.next_count -= 1
            return self.next_mode
        roll = random.random()
        for mode, rate in self.rates.items():
            if roll < rate:
                return mode
            roll -= rate
        return None
