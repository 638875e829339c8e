"""Domain events: written to the outbox in the change's transaction, delivered at least once."""

from __future__ import annotations

from .handlers import Handler, HandlerContext, subscribe, subscriptions
from .outbox import Event, emit

__all__ = ["Event", "Handler", "HandlerContext", "emit", "subscribe", "subscriptions"]
