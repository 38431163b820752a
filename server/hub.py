"""The node's registry of its own sockets: who is connected here and to which topics, and delivery to them."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from server.digest import TopicDigest
from server.metrics import Metrics
from server.session import Session


class Hub:
    """Implements the bus listener: hands each frame the bus brings to the local sockets it concerns."""

    def __init__(self, metrics: Metrics, digests: Sequence[TopicDigest] = ()) -> None:
        self.metrics = metrics
        self.digests = {digest.source: digest for digest in digests}  # by the topic they collect
        self.sessions: dict[str, Session] = {}
        self.by_player: dict[str, list[Session]] = defaultdict(list)
        self.topics: dict[str, set[Session]] = defaultdict(set)
        self.on_control: Callable[[dict[str, Any]], None] | None = None
        self.on_behind: Callable[[Session], None] | None = None  # a socket saw a gap in its events: catch it up

    def add(self, session: Session) -> None:
        self.sessions[session.id] = session
        self.by_player[session.player_id].append(session)
        self.metrics.sockets.set(len(self.sessions))

    def remove(self, session: Session) -> None:
        if self.sessions.pop(session.id, None) is None:
            return
        sessions = self.by_player.get(session.player_id)
        if sessions is not None:
            sessions.remove(session)
            if not sessions:
                del self.by_player[session.player_id]
        for topic in session.topics:
            members = self.topics.get(topic)
            if members is not None:
                members.discard(session)
                if not members:
                    del self.topics[topic]
        self.metrics.sockets.set(len(self.sessions))

    def subscribe(self, session: Session, topic: str) -> None:
        session.topics.add(topic)
        self.topics[topic].add(session)

    def unsubscribe(self, session: Session, topic: str) -> None:
        session.topics.discard(topic)
        members = self.topics.get(topic)
        if members is not None:
            members.discard(session)
            if not members:
                del self.topics[topic]

    # --- bus listener ------------------------------------------------------------------------------------------
    def deliver_player(self, player_id: str, seq: int, frame: bytes) -> None:
        for session in self.by_player.get(player_id, ()):
            if not session.push_event(seq, frame) and self.on_behind is not None:
                self.on_behind(session)

    def deliver_topic(self, topic: str, frame: bytes) -> None:
        self._send_topic(topic, frame)
        digest = self.digests.get(topic)
        # A digest collects only while someone here follows it: nothing is kept for nobody.
        if digest is not None and digest.topic in self.topics and digest.add(frame):
            asyncio.get_running_loop().call_later(digest.seconds, self._send_digest, digest)

    def _send_digest(self, digest: TopicDigest) -> None:
        frame = digest.take()
        if frame is not None:
            self._send_topic(digest.topic, frame)

    def _send_topic(self, topic: str, frame: bytes) -> None:
        members = self.topics.get(topic)
        if not members:
            return
        for session in tuple(members):
            session.send(frame)
        self.metrics.events.inc(len(members))

    def deliver_control(self, message: dict[str, Any]) -> None:
        if self.on_control is not None:
            self.on_control(message)

    def connected(self, player_id: str) -> bool:
        """Whether the player has a socket on this node."""
        return player_id in self.by_player

    def local_count(self) -> int:
        return len(self.sessions)

    def player_count(self) -> int:
        return len(self.by_player)

    def busy_count(self) -> int:
        """Sockets whose command is being handled (each reads its next one only after replying)."""
        return sum(1 for session in self.sessions.values() if not session.idle.is_set())
