"""Every message of protocol v1: the single source for validation and for docs/PROTOCOL.md."""

from __future__ import annotations

from protocol.schema import Command, Event, Field

TOPIC_PATTERN = r"market(:digest)?|chat:global(:digest)?|ranking:(points|level|wealth|points:\d{4}-W\d{2})"
# Busy topics with a digest: `<topic>:digest` carries the topic's events of an interval in one frame of this type.
DIGESTS = {"market": "market.digest", "chat:global": "chat.digest"}
ID = r"[A-Za-z0-9_-]{1,64}"
BOARDS = ("points", "level", "wealth")  # and the weekly `points:<ISO week>`, e.g. `points:2026-W48`
BOARD_PATTERN = "|".join(BOARDS) + r"|points:\d{4}-W\d{2}"

_commands: list[Command] = [
    # --- session -------------------------------------------------------------------------------------------------
    Command(
        "auth", "session",
        "First frame of every connection, within 5 s. With `resume`, the events after `seq` of that session are "
        "delivered before any new one (`resumed: true`), or `resumed: false` when they cannot be replayed.",
        fields=(
            Field("token", "str", "Access token (JWT) from `POST /auth/login` or `/auth/refresh`.", max=4096),
            Field("resume", "object", "The session to continue and the last `seq` the client saw.", required=False,
                  fields=(Field("session", "str", "Session id from an earlier `auth` reply.", max=64),
                          Field("seq", "int", "Last event `seq` received.", min=0))),
        ),
    ),
    Command("ping", "session", "Round-trip check; `echo` (if sent) comes back.",
            fields=(Field("echo", "str", "Anything up to 60,000 characters.", required=False, max=60000),),
            read_only=True),
    Command("state.get", "session", "The player's state summary.", read_only=True),
    Command("sub.add", "session", "Subscribe this connection to a broadcast topic.",
            fields=(Field("topic", "str", "`market`, `chat:global` (each event as it happens), `market:digest`, "
                          "`chat:global:digest` (the same events, one frame per `digest_seconds`) or "
                          "`ranking:<board>`; a connection follows at most `max_topics_per_socket` (16) topics.",
                          pattern=TOPIC_PATTERN),),
            read_only=True),
    Command("sub.remove", "session", "Unsubscribe this connection from a topic.",
            fields=(Field("topic", "str", "A topic given to `sub.add`.", pattern=TOPIC_PATTERN),), read_only=True),
]

_events: list[Event] = []

GAME_ERRORS = ("not_found", "in_combat", "character_wounded", "insufficient_funds", "insufficient_energy")


def _character_field(doc: str = "Id of one of your characters.") -> Field:
    return Field("character", "str", doc, pattern=ID)


_commands += [
    # --- characters and items ------------------------------------------------------------------------------------
    Command("catalog.get", "characters", "The game catalog: characters, ranks, items, dungeons, and the settings.",
            read_only=True),
    Command("character.list", "characters", "Your characters with their effective stats.", read_only=True),
    Command("inventory.get", "characters", "Your free inventory (equipped items are shown on their character).",
            read_only=True),
    Command("character.heal", "characters",
            "Restore full HP for ceil((max - current) / 10) x 2 VAL and 2 energy. Not for a wounded character.",
            fields=(_character_field(),), changes_state=True,
            errors=(*GAME_ERRORS, "conflict")),
    Command("character.revive", "characters", "Bring a wounded character back to full HP for 50 VAL.",
            fields=(_character_field(),), changes_state=True,
            errors=("not_found", "conflict", "insufficient_funds", "in_combat")),
    Command("character.evolve", "characters",
            "Raise the stage: to 2 at level 40 (1,000 VAL + 1 EVO), to 3 at level 100 (3,000 VAL + 1 EVO); "
            "10 energy.",
            fields=(_character_field(),), changes_state=True,
            errors=(*GAME_ERRORS, "level_too_low", "conflict")),
    Command("character.equip", "characters",
            "Wear an equipment item from the inventory (one per slot; the slot's previous item returns).",
            fields=(_character_field(), Field("item", "str", "Id of an equipment item in your inventory.",
                                              pattern=ID)),
            changes_state=True, errors=("not_found", "level_too_low", "in_combat", "conflict", "inventory_full")),
    Command("character.unequip", "characters", "Take an item off back into the inventory.",
            fields=(_character_field(), Field("slot", "str", "The slot to empty.",
                                              choices=("weapon", "armor", "shield", "ring"))),
            changes_state=True, errors=("not_found", "in_combat", "inventory_full")),
    Command("item.use", "characters",
            "Use one use of a consumable on a character (instant HP effects, or a timed buff).",
            fields=(Field("item", "str", "Id of a consumable in your inventory.", pattern=ID),
                    _character_field("The character that receives the effect.")), changes_state=True,
            errors=("not_found", "character_wounded", "in_combat", "conflict")),
    Command("evo.buy", "characters", "Buy EVO crystals for 100 VAL each.",
            fields=(Field("count", "int", "How many crystals.", min=1, max=100),), changes_state=True,
            errors=("insufficient_funds",)),
    # --- energy --------------------------------------------------------------------------------------------------
    Command("energy.get", "energy", "Current energy; `next_at` is when the next point arrives (null at max).",
            read_only=True),
    # --- combat --------------------------------------------------------------------------------------------------
    Command("combat.start", "combat",
            "Enter a dungeon with 1 to 3 of your characters for 5 energy. In `auto` mode the server attacks every "
            "round; in `manual` mode you send `combat.action` within 30 s per round (else `attack` is taken).",
            fields=(Field("dungeon", "str", "Dungeon id from the catalog.", pattern=ID),
                    Field("team", "list", "Character ids.", items="str", min=1, max=3),
                    Field("mode", "str", "Who acts.", choices=("auto", "manual"), required=False)),
            changes_state=True,
            errors=("not_found", "in_combat", "character_wounded", "level_too_low", "insufficient_energy",
                    "bad_request")),
    Command("combat.action", "combat", "Your action for the current round (manual mode; also allowed in auto).",
            fields=(Field("combat", "str", "Combat id.", pattern=ID),
                    Field("action", "str", "What the team does.", choices=("attack", "defend", "item", "flee")),
                    Field("item", "str", "Consumable id, for `item`.", required=False, pattern=ID),
                    Field("target", "str", "Team member id, for `item`.", required=False, pattern=ID)),
            changes_state=True, errors=("not_found", "conflict", "bad_request")),
    Command("combat.state", "combat", "The running combat (after a reconnect, to continue it), or null.",
            read_only=True),
    # --- rankings ------------------------------------------------------------------------------------------------
    Command("ranking.top", "rankings", "The best N of a board (`points`, `points:<ISO week>`, `level`, `wealth`).",
            fields=(Field("board", "str", "Board name.", pattern=BOARD_PATTERN),
                    Field("limit", "int", "How many (default 10).", required=False, min=1, max=100)), read_only=True),
    Command("ranking.me", "rankings", "Your rank and score on a board (rank null when not on it).",
            fields=(Field("board", "str", "Board name.", pattern=BOARD_PATTERN),), read_only=True),
    Command("ranking.around", "rankings", "The players just above and below you.",
            fields=(Field("board", "str", "Board name.", pattern=BOARD_PATTERN),
                    Field("radius", "int", "How many on each side (default 5).", required=False, min=1, max=50)),
            read_only=True),
    # --- chat ----------------------------------------------------------------------------------------------------
    Command("chat.send", "chat", "Say something on global chat (subscribers of `chat:global` receive it).",
            fields=(Field("text", "str", "1 to 500 characters.", min=1, max=500),),
            errors=("rate_limited", "bad_request")),
    Command("chat.whisper", "chat", "A private message to one player, by name.",
            fields=(Field("to", "str", "The player's name.", max=24), Field("text", "str", "1 to 500 characters.",
                                                                           min=1, max=500)),
            errors=("not_found", "rate_limited", "bad_request")),
    Command("chat.history", "chat", "The last global messages (at most 100), oldest first.",
            fields=(Field("limit", "int", "How many (default 100).", required=False, min=1, max=100),), read_only=True),
    # --- notifications --------------------------------------------------------------------------------------------
    Command("notification.list", "notifications", "Your notifications, newest first, and the unread count.",
            fields=(Field("unread_only", "bool", "Only the unread ones.", required=False),
                    Field("limit", "int", "How many (default 50).", required=False, min=1, max=100)), read_only=True),
    Command("notification.read", "notifications", "Mark notifications read (all of them when `ids` is absent).",
            fields=(Field("ids", "list", "Notification ids.", required=False, items="str", max=100),)),
]

_events += [
    Event("wallet.updated", "characters", "Your VAL or EVO changed."),
    Event("energy.updated", "energy",
          "Your energy changed (a spend, or a regeneration point while below max), within a second of it."),
    Event("combat.started", "combat", "A combat began."),
    Event("combat.round", "combat", "One resolved round, in order."),
    Event("combat.ended", "combat", "The combat's outcome and rewards."),
    Event("ranking.updated", "rankings", "A board you subscribed to (`ranking:<board>`) changed.",
          topic="ranking:points"),
    Event("chat.message", "chat", "A global message (topic `chat:global`) or a whisper to you (personal).",
          topic="chat:global"),
    Event("chat.digest", "chat",
          "The global chat's messages of an interval (`digest_seconds`, 1 s), in one frame: `events` holds them as "
          "topic `chat:global` sends them, in order, at most `digest_max_events` (100); `skipped` counts the "
          "interval's others (`chat.history` has them). Sent only for an interval with a message.",
          topic="chat:global:digest"),
    Event("character.lost", "characters", "Characters wounded for 24 h without revive were lost."),
    Event("notification.new", "notifications",
          "A new notification (`kind`: `level_up`, `sale`, `purchase`, `listing_expired`, `character_lost`), with "
          "your unread count."),
]

LISTING_ID = Field("listing", "str", "Listing id.", pattern=ID)

_commands += [
    Command("market.list", "market",
            "Put an item of your free inventory or one of your characters (not equipped, not wounded, not fighting, "
            "not your last) up for sale. The goods leave your inventory while listed; a character's equipment "
            "stays with you. Minimum prices: character 100, equipment 10, consumable 5; at most 1,000,000. "
            "Featuring costs 100 VAL. Listings expire after 7 days and the goods come back.",
            fields=(Field("item", "str", "Item id (or give `character`).", required=False, pattern=ID),
                    Field("character", "str", "Character id (or give `item`).", required=False, pattern=ID),
                    Field("price", "int", "Price in VAL.", min=1, max=1_000_000),
                    Field("featured", "bool", "Show first in browse, for 100 VAL.", required=False)),
            changes_state=True,
            errors=("bad_request", "not_found", "in_combat", "character_wounded", "conflict", "insufficient_funds")),
    Command("market.buy", "market",
            "Buy a listing: you pay the price, the seller receives it less 5 % tax. Exactly one buyer wins.",
            fields=(LISTING_ID,),
            changes_state=True,
            errors=("not_found", "conflict", "forbidden", "insufficient_funds", "inventory_full")),
    Command("market.cancel", "market", "Withdraw your listing; the goods come back (room needed).",
            fields=(LISTING_ID,),
            changes_state=True, errors=("not_found", "forbidden", "conflict", "inventory_full")),
    Command("market.mine", "market", "Your listings (active by default), newest first.",
            fields=(Field("status", "str", "Which ones.", required=False,
                          choices=("active", "sold", "cancelled", "expired")),), read_only=True),
    Command("market.browse", "market",
            "Active listings, featured first, with filters, a sort and cursor pagination (`next` is null on the "
            "last page).",
            fields=(Field("kind", "str", "Only this kind.", required=False,
                          choices=("equipment", "consumable", "character")),
                    Field("rank", "str", "Only this rank.", required=False,
                          choices=("D", "C", "B", "A", "S", "SS", "SSS")),
                    Field("price_min", "int", "Lowest price.", required=False, min=0),
                    Field("price_max", "int", "Highest price.", required=False, min=0),
                    Field("min_level", "int", "Lowest level (character level, or item level requirement).",
                          required=False, min=0, max=100),
                    Field("name", "str", "Part of the item code or character base.", required=False, max=64),
                    Field("sort", "str", "Order.", required=False, choices=("price", "newest", "level")),
                    Field("order", "str", "Direction (default: price asc, newest and level desc).", required=False,
                          choices=("asc", "desc")),
                    Field("cursor", "str", "`next` of the previous page.", required=False, max=512),
                    Field("limit", "int", "Page size (default 20).", required=False, min=1, max=100)), read_only=True),
]

_events += [
    Event("market.listed", "market", "A new listing.", topic="market"),
    Event("market.sold", "market", "A listing was bought.", topic="market"),
    Event("market.cancelled", "market", "A listing was withdrawn.", topic="market"),
    Event("market.expired", "market", "A listing expired; its goods went back.",
          topic="market"),
    Event("market.digest", "market",
          "The market events of an interval (`digest_seconds`, 1 s), in one frame: `events` holds them as topic "
          "`market` sends them, in order, at most `digest_max_events` (100); `skipped` counts the interval's "
          "others (re-read with `market.browse`). Sent only for an interval in which something happened. For a "
          "client that shows the market live to many players: one frame a second instead of one per listing.",
          topic="market:digest"),
]

_commands += [
    Command("ops.broadcast", "ops",
            "Show a message on every socket of every node, or on every socket of one player (`to`). With `key`, "
            "a retried broadcast is shown once (the retry answers `duplicate: true`, `delivered: 0`).",
            fields=(Field("message", "str", "1 to 500 characters, not only blanks.", min=1, max=500,
                          pattern=r"[\s\S]*\S[\s\S]*"),
                    Field("to", "str", "A player's name.", required=False, max=24),
                    Field("key", "str", "Idempotency key of the broadcast.", required=False, max=64)), admin=True),
    Command("ops.kick", "ops", "Close every socket of a player, on whatever node, with 4003.",
            fields=(Field("player", "str", "The player's name.", max=24),
                    Field("reason", "str", "Shown as the close reason.", required=False, max=100)), admin=True,
            errors=("not_found",)),
    Command("ops.drain", "ops",
            "Drain a node (this one by default): it refuses new sockets, finishes in-flight commands, closes its "
            "sockets with 1012 and reports not ready.",
            fields=(Field("node", "str", "Node id (from `ops.stats`).", required=False, max=64),), admin=True,
            errors=("not_found",)),
    Command("ops.stats", "ops", "Live nodes with their sockets, command rate and bus lag.", admin=True),
]

_events += [
    Event("ops.announcement", "ops", "An operator's announcement (every socket receives it; no subscription).",
          topic="ops"),
]

COMMANDS: dict[str, Command] = {c.type: c for c in _commands}
EVENTS: dict[str, Event] = {e.type: e for e in _events}

