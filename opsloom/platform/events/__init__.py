"""Domain events: written to the outbox in the change's transaction, delivered at least once."""

from __future__ import annotations

from .outbox import Event, emit

__all__ = ["Event", "emit"]
