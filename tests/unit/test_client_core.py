"""The SDK's sans-I/O core: frames in, replies and events out; seq gaps; resume; idem retries. No sockets."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from protocol.codes import MAX_IDEM_LENGTH, CloseCode
from protocol.frames import decode, encode_error, encode_event, encode_reply
from protocol.messages import COMMANDS
from valgame_client.core import (
    KEYED,
    READ_ONLY,
    Authenticated,
    ClientProtocol,
    Event,
    Reply,
    Resync,
    Unreadable,
    new_idem_key,
)


def auth_reply(frame_id: Any, session: str, seq: int, resumed: bool | None = None) -> bytes:
    data: dict[str, Any] = {"player": {"id": "p_1"}, "session": session, "node": "n1", "protocol": 1,
                            "server_time": 1.0, "seq": seq}
    if resumed is not None:
        data["resumed"] = resumed
    return encode_reply(frame_id, "auth", data)


def online(session: str = "s_1", seq: int = 0) -> ClientProtocol:
    core = ClientProtocol()
    command = core.auth("token")
    core.mark_sent(command)
    core.receive(auth_reply(command.id, session, seq))
    return core


def test_commands_get_increasing_ids_and_frames_the_server_accepts() -> None:
    core = ClientProtocol()
    first, second = core.command("ping", {"echo": "x"}), core.command("market.buy", {"listing": "L1"}, idem="k1")
    assert (first.id, second.id) == (1, 2)
    assert orjson.loads(second.text()) == {"id": 2, "type": "market.buy", "data": {"listing": "L1"}, "idem": "k1"}
    decoded = decode(second.text())  # the server's own decoder takes it as it is
    assert (decoded.id, decoded.type, decoded.idem, decoded.data) == (2, "market.buy", "k1", {"listing": "L1"})
    assert "idem" not in orjson.loads(first.text())


def test_idem_true_makes_a_fresh_valid_key_and_read_only_commands_refuse_one() -> None:
    core = ClientProtocol()
    one, two = core.command("evo.buy", {"count": 1}, idem=True), core.command("evo.buy", {"count": 1}, idem=True)
    assert one.idem and two.idem and one.idem != two.idem and one.idem.startswith("evo.buy-")
    assert decode(one.text()).idem == one.idem
    assert len(new_idem_key("x" * 100)) == MAX_IDEM_LENGTH
    with pytest.raises(ValueError, match="takes no idem"):
        core.command("state.get", idem="k")


def test_a_reply_is_matched_to_its_command_and_an_unknown_id_to_none() -> None:
    core = ClientProtocol()
    command = core.command("ping")
    [reply] = core.receive(encode_reply(command.id, "ping", {"echo": ""}))
    assert isinstance(reply, Reply) and reply.command is command and reply.ok and reply.data == {"echo": ""}
    assert core.pending == ()
    [late] = core.receive(encode_reply(command.id, "ping", {}))  # answered already: nobody waits
    assert late.command is None
    [refused] = core.receive(encode_error(None, None, "bad_request", "frame is not valid JSON"))
    assert isinstance(refused, Reply) and not refused.ok and refused.error["code"] == "bad_request"


def test_replayed_replies_are_flagged_and_unreadable_frames_reported() -> None:
    core = ClientProtocol()
    command = core.command("evo.buy", {"count": 1}, idem="k")
    [reply] = core.receive(encode_reply(command.id, "evo.buy", {"val": 0, "evo": 3}, replayed=True))
    assert reply.replayed
    assert [type(x) for x in core.receive(b"not json")] == [Unreadable]
    assert [type(x) for x in core.receive(b"[1, 2]")] == [Unreadable]


def test_auth_records_the_session_and_the_seq_it_is_current_with() -> None:
    core = ClientProtocol()
    command = core.auth("token")
    assert orjson.loads(command.text())["data"] == {"token": "token"}  # nothing to resume yet
    reply, authed = core.receive(auth_reply(command.id, "s_9", 41))
    assert isinstance(reply, Reply) and isinstance(authed, Authenticated)
    assert (authed.session, authed.seq, authed.resumed, core.session, core.last_seq) == ("s_9", 41, None, "s_9", 41)


def test_events_in_order_pass_and_a_gap_asks_for_a_resync() -> None:
    core = online(seq=5)
    assert [e.seq for e in core.receive(encode_event("wallet.updated", {"val": 1}, seq=6))] == [6]
    gap, event = core.receive(encode_event("wallet.updated", {"val": 2}, seq=9))
    assert gap == Resync("gap", 6, 9) and isinstance(event, Event) and event.data == {"val": 2}
    assert core.last_seq == 9


def test_an_event_already_seen_is_dropped_and_topic_events_do_not_touch_seq() -> None:
    core = online(seq=5)
    assert core.receive(encode_event("wallet.updated", {}, seq=5)) == []
    assert core.receive(encode_event("wallet.updated", {}, seq=3)) == []
    [chat] = core.receive(encode_event("chat.message", {"text": "hi"}, topic="chat:global"))
    assert isinstance(chat, Event) and chat.topic == "chat:global" and chat.seq is None
    assert core.last_seq == 5


def test_after_a_drop_auth_resumes_the_session_from_the_last_seq_seen() -> None:
    core = online("s_1", 5)
    core.receive(encode_event("energy.updated", {"energy": 1}, seq=6))
    assert core.connection_lost() == []
    command = core.auth("token2")
    assert orjson.loads(command.text())["data"] == {"token": "token2", "resume": {"session": "s_1", "seq": 6}}
    core.mark_sent(command)
    _, authed = core.receive(auth_reply(command.id, "s_2", 6, resumed=True))
    assert authed.resumed is True and core.session == "s_2" and core.last_seq == 6
    # the replayed events follow, in order
    assert [e.seq for e in core.receive(encode_event("energy.updated", {}, seq=7))] == [7]


def test_a_resume_the_server_cannot_replay_asks_for_a_resync() -> None:
    core = online("s_1", 5)
    core.connection_lost()
    command = core.auth("token")
    core.mark_sent(command)
    items = core.receive(auth_reply(command.id, "s_2", 80, resumed=False))
    assert [type(x) for x in items] == [Reply, Authenticated, Resync]
    assert items[2] == Resync("not_resumed", 5, 80) and core.last_seq == 80


def test_a_drop_fails_unkeyed_changes_and_keeps_reads_and_keyed_changes_for_resending() -> None:
    core = online()
    read = core.command("state.get")
    keyed = core.command("market.buy", {"listing": "L1"}, idem="buy-L1")
    unkeyed = core.command("market.buy", {"listing": "L2"})
    chat = core.command("chat.send", {"text": "hi"})
    later = core.command("character.heal", {"character": "c1"})  # not sent yet: safe whatever it is
    for command in (read, keyed, unkeyed, chat):
        core.mark_sent(command)
    lost = core.connection_lost()
    assert lost == [unkeyed, chat]
    assert core.pending == (read, keyed, later) and not any(c.sent for c in core.pending)
    command = core.auth("token")
    core.mark_sent(command)
    _, authed = core.receive(auth_reply(command.id, "s_2", 0, resumed=True))
    # the same frames again, in their order: a keyed change keeps its key, so the server applies it once
    assert authed.resend == (read, keyed, later)
    assert orjson.loads(keyed.text())["idem"] == "buy-L1"
    [reply] = core.receive(encode_reply(keyed.id, "market.buy", {"val": 60}, replayed=True))
    assert reply.command is keyed and reply.replayed


def test_subscriptions_are_restored_on_the_next_connection() -> None:
    core = online()
    for topic in ("market", "chat:global"):
        command = core.command("sub.add", {"topic": topic})
        core.mark_sent(command)
        core.receive(encode_reply(command.id, "sub.add", {"topic": topic}))
    removal = core.command("sub.remove", {"topic": "market"})
    core.receive(encode_reply(removal.id, "sub.remove", {"topic": "market"}))
    core.connection_lost()
    command = core.auth("token")
    _, authed = core.receive(auth_reply(command.id, "s_2", 0, resumed=True))
    assert [(c.type, c.data, c.internal) for c in authed.resend] == [("sub.add", {"topic": "chat:global"}, True)]


def test_final_close_codes_stop_reconnecting() -> None:
    assert not ClientProtocol.may_reconnect(CloseCode.KICKED)
    assert not ClientProtocol.may_reconnect(CloseCode.NOT_AUTHENTICATED)
    assert ClientProtocol.may_reconnect(CloseCode.DRAINING) and ClientProtocol.may_reconnect(None)


def test_the_command_sets_agree_with_the_protocol() -> None:
    assert {name for name, command in COMMANDS.items() if command.changes_state} == KEYED
    assert READ_ONLY.issubset(COMMANDS)
    assert not READ_ONLY & KEYED
    assert "auth" not in READ_ONLY and not {"chat.send", "chat.whisper", "notification.read"} & READ_ONLY
    assert not any(COMMANDS[name].admin for name in READ_ONLY)
