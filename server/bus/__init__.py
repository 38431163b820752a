"""The bus port and its adapters."""

from collections.abc import Callable

from server.bus.port import Bus, BusListener

__all__ = ["Bus", "BusListener", "open_bus"]


def open_bus(url: str, node_id: str, history_size: int, history_seconds: float,
             on_gap: Callable[[], None] | None = None, presence_seconds: float = 30) -> Bus:
    """Build the adapter a bus URL names: `memory://` or `redis://host:port/db`."""
    if url.startswith("memory:"):
        from server.bus.memory import MemoryBus

        return MemoryBus(node_id, history_size, history_seconds)
    if url.startswith(("redis://", "rediss://")):
        from server.bus.redis import RedisBus

        return RedisBus(url, node_id, history_size, history_seconds, on_gap, presence_seconds)
    raise ValueError(f"unknown bus URL scheme: {url.split(':', 1)[0]}")
