"""Finding what a player owns, and the inventory limits (see `state.py` for how stacks and limits are counted)."""

from __future__ import annotations

from protocol.codes import ErrorCode
from server.game.catalog import CONSUMABLES, EQUIPMENT, item_kind
from server.game.config import GameSettings
from server.game.errors import GameError, bad_request, not_found
from server.game.state import Character, Item, PlayerState


def require_id(value: object, field: str) -> str:
    if not isinstance(value, str) or not value:
        raise bad_request(field, f"{field} must be a non-empty string")
    return value


def require_character(state: PlayerState, char_id: object, field: str = "data.character") -> Character:
    char = state.character(require_id(char_id, field))
    if char is None:
        raise not_found("character", char_id, field)
    return char


def require_free_item(state: PlayerState, item_id: object, field: str = "data.item") -> Item:
    """An item of the free inventory (not equipped)."""
    item = state.item(require_id(item_id, field))
    if item is None:
        raise not_found("item", item_id, field)
    return item


def require_not_in_combat(state: PlayerState, char: Character) -> None:
    if state.in_combat(char.id):
        raise GameError(ErrorCode.IN_COMBAT, f"character {char.id} is in a combat", character=char.id)


def require_not_wounded(char: Character) -> None:
    if char.wounded:
        raise GameError(ErrorCode.CHARACTER_WOUNDED, f"character {char.id} is wounded; revive it first",
                        character=char.id)


def equipment_count(state: PlayerState) -> int:
    """Free plus equipped equipment: both count against `max_equipment`."""
    free = sum(1 for i in state.items if i.kind == "equipment")
    return free + sum(len(c.equipment) for c in state.characters)


def consumable_count(state: PlayerState) -> int:
    return sum(1 for i in state.items if i.kind == "consumable")


def has_room_for_item(state: PlayerState, kind: str, settings: GameSettings) -> bool:
    if kind == "equipment":
        return equipment_count(state) < settings.max_equipment
    return consumable_count(state) < settings.max_consumable_stacks


def has_room_for_character(state: PlayerState, settings: GameSettings) -> bool:
    return len(state.characters) < settings.max_characters


def require_room_for_item(state: PlayerState, kind: str, settings: GameSettings) -> None:
    if not has_room_for_item(state, kind, settings):
        limit = settings.max_equipment if kind == "equipment" else settings.max_consumable_stacks
        raise GameError(ErrorCode.INVENTORY_FULL, f"no room for another {kind} item (limit {limit})", kind=kind)


def require_room_for_character(state: PlayerState, settings: GameSettings) -> None:
    if not has_room_for_character(state, settings):
        raise GameError(ErrorCode.INVENTORY_FULL, f"no room for another character (limit {settings.max_characters})",
                        kind="character")


def new_item(code: str, item_id: str) -> Item:
    """A fresh item of catalog `code`: a consumable comes with its full uses, equipment with 1."""
    kind = item_kind(code)
    uses = CONSUMABLES[code].uses if kind == "consumable" else 1
    assert kind != "equipment" or code in EQUIPMENT
    return Item(id=item_id, code=code, kind=kind, uses=uses)
