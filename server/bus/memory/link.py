"""The in-process bus's "connection": the node's listener, to which its events are delivered directly."""

from __future__ import annotations

from server.bus.port import BusListener, Delivery


class MemoryLink:
    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.listener: BusListener | None = None
        self.delivery = Delivery()  # delivered by a call in the same process: nothing to probe

    async def start(self, listener: BusListener) -> None:
        self.listener = listener

    async def close(self) -> None:
        self.listener = None

    async def ping(self) -> bool:
        return self.listener is not None
