from __future__ import annotations

import json

from server.game.catalog import (
    BASE_CHARACTERS,
    CATALOG_VERSION,
    CONSUMABLES,
    DUNGEONS,
    EQUIPMENT,
    RANKS,
    catalog_as_dict,
    item_kind,
)
from server.game.config import GameSettings


def test_catalog_holds_the_spec_content() -> None:
    assert len(BASE_CHARACTERS) == 8 and BASE_CHARACTERS["vision-espectral"].atk == 10
    assert BASE_CHARACTERS["arbol-caos"].hp == 35
    assert list(RANKS) == ["D", "C", "B", "A", "S", "SS", "SSS"]
    assert abs(sum(r.weight for r in RANKS.values()) - 1) < 1e-9
    assert RANKS["SSS"].hp_per_level == 40
    assert EQUIPMENT["anillo-del-fenix"].hp == 100 and EQUIPMENT["katana-del-dragon"].min_level == 40
    assert CONSUMABLES["pergamino-de-sabiduria"].uses == 5
    assert CONSUMABLES["fruto-divino"].duration_seconds == 3600
    assert DUNGEONS["cueva-goblins"].hp == 40 and DUNGEONS["abismo-caos-eterno"].min_level == 50
    assert item_kind("daga-oxidada") == "equipment" and item_kind("pocion-vida-menor") == "consumable"


def test_every_drop_is_an_item_of_the_catalog() -> None:
    for dungeon in DUNGEONS.values():
        for drop in dungeon.drops:
            assert item_kind(drop.code) in ("equipment", "consumable")


def test_catalog_as_dict_is_json_and_carries_settings() -> None:
    data = catalog_as_dict(GameSettings().with_overrides({"recruit_chances": {"cueva-goblins": 0.5}}))
    assert data["version"] == CATALOG_VERSION == 1
    json.dumps(data)
    cave = next(d for d in data["dungeons"] if d["code"] == "cueva-goblins")
    assert cave["recruit_chance"] == 0.5 and cave["drops"][0] == {"code": "pocion-vida-menor", "chance": 0.30}
