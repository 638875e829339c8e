"""Domain events: written to the outbox in the change's transaction, delivered at least once."""

from __future__ import annotations

from .handlers import Handler, HandlerContext, subscribe, subscriptions
from .outbox import Event, emit, emit_many, event_rows, event_values

__all__ = ["Event", "Handler", "HandlerContext", "emit", "emit_many", "event_rows", "event_values", "subscribe", "subscriptions"]
