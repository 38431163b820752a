"""A topic's digest: the frames one topic brought in an interval, sent as one frame (sans I/O; the hub times it).

A busy topic costs a node one delivery per event per subscriber: the market feed at 10,000 players asks more than a
core can send (docs/PERFORMANCE.md, "10,000 players on one node"), and a thousand players on the global chat make
each message a thousand frames. Its digest topic (`market:digest`, `chat:global:digest`: protocol.messages.DIGESTS)
costs one delivery per interval per follower instead, whatever the topic's pace, and carries the same events.

The events go into the digest as the source topic encoded them, unparsed, so a client handles a digest's entries
with the code it has for the single events. Past `max_events` in one interval the rest are only counted
(`skipped`): the buffer is bounded, and a client that sees `skipped` catches up with `market.browse` or
`chat.history` (topic events are best-effort, docs/PROTOCOL.md).
"""

from __future__ import annotations

import orjson

from protocol import encode_event


class TopicDigest:
    """Collects a source topic's frames until `take` makes them one `event_type` frame on `topic`."""

    def __init__(self, source: str, topic: str, event_type: str, seconds: float, max_events: int) -> None:
        if not seconds > 0 or max_events < 1:
            raise ValueError("a digest needs an interval above 0 s and room for at least one event")
        self.source, self.topic, self.event_type = source, topic, event_type
        self.seconds = seconds  # the interval: the hub sends the digest this long after its first frame
        self.max_events = max_events
        self._frames: list[bytes] = []
        self._skipped = 0

    def add(self, frame: bytes) -> bool:
        """Keep one frame of the source topic; True when it opens the interval (the caller schedules `take`)."""
        opens = not self._frames and not self._skipped
        if len(self._frames) < self.max_events:
            self._frames.append(frame)
        else:
            self._skipped += 1
        return opens

    def take(self) -> bytes | None:
        """The interval's digest frame, and a new interval; None when nothing came."""
        if not self._frames and not self._skipped:
            return None
        events = [orjson.Fragment(frame) for frame in self._frames]
        frame = encode_event(self.event_type, {"events": events, "skipped": self._skipped}, topic=self.topic)
        self._frames, self._skipped = [], 0
        return frame
