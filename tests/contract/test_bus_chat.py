"""The chat history port, on every bus adapter: the last messages in order, capped."""

from __future__ import annotations

from tests.contract.conftest import OpenBus


async def test_history_keeps_the_last_messages_in_order(open_test_bus: OpenBus) -> None:
    bus, _ = await open_test_bus()
    assert await bus.chat.chat_history(10) == []
    for i in range(5):
        await bus.chat.chat_append({"id": f"m{i}", "text": str(i)}, 3)
    assert [m["id"] for m in await bus.chat.chat_history(10)] == ["m2", "m3", "m4"]
    assert [m["id"] for m in await bus.chat.chat_history(2)] == ["m3", "m4"]
    assert await bus.chat.chat_history(0) == []
