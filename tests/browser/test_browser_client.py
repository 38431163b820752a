"""The browser client served at `/`, driven in a real Chromium (Debian's, through Playwright) against real nodes.

Two players register through the page; A fights the goblin cave in auto mode and sees the rounds and rewards; A
lists a potion, B's market shows it live and B buys it; A sees the sale notification and the new balance. Then an
operator's broadcast shows as a banner on both pages, and a page rides through a node restart (close 1012) and a
token refresh. Screenshots of each step go to test-artifacts/browser/; with VALGAME_README_SCREENSHOT=1 the
after-the-fight view is also written to docs/screenshot.png.

Needs `pip install playwright` (the Python package only: no browser download) and `apt-get install chromium`.
Synchronisation is Playwright's auto-waiting `expect(...)`: no sleeps.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.support.admin import make_admin
from tests.support.client import unique_name
from tests.support.servers import REPO, ServerProcess
from valgame_client.sync import Client as BlockingClient

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed (/usr/bin/chromium): apt-get install -y chromium",
                allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

ARTIFACTS = REPO / "test-artifacts" / "browser"
README_SHOT = REPO / "docs" / "screenshot.png"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
PASSWORD = "correct horse battery"
WAIT_MS = 15_000

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Player:
    role: str  # "ana", "bo": names the screenshots
    name: str
    page: Page
    errors: list[str] = field(default_factory=list)  # uncaught exceptions in the page
    console: list[str] = field(default_factory=list)  # console errors (also failed network requests)

    def by(self, testid: str) -> Any:
        return self.page.get_by_test_id(testid)

    def val(self) -> int:
        return int(self.by("wallet-val").inner_text().replace(",", ""))

    def shot(self, step: str) -> None:
        self.page.screenshot(path=str(ARTIFACTS / f"{step}-{self.role}.png"), full_page=True)


@pytest.fixture
def open_player(browser: Browser) -> Iterator[Callable[..., Player]]:
    """A new browser context (its own sessionStorage) on the node's page, registered through the form."""
    contexts = []

    def open_one(node: ServerProcess, prefix: str) -> Player:
        context = browser.new_context(viewport={"width": 1440, "height": 1000})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        player = Player(prefix, unique_name(prefix), page)
        page.on("pageerror", lambda exc: player.errors.append(str(exc)))
        page.on("console", lambda msg: player.console.append(msg.text) if msg.type == "error" else None)
        page.goto(node.http + "/")
        expect(player.by("register-form")).to_be_visible()
        player.by("register-username").fill(player.name)
        player.by("register-email").fill(f"{player.name}@example.test")
        player.by("register-password").fill(PASSWORD)
        player.by("register-submit").click()
        expect(player.by("connection-status")).to_have_attribute("data-state", "online")
        expect(player.by("player-name")).to_have_text(player.name)
        expect(player.by("character-card")).to_have_count(1)
        expect(player.by("wallet-val")).to_have_text("100")
        expect(player.by("panel-market")).to_have_attribute("data-live", "true")  # subscribed to the feed
        return player

    yield open_one
    for context in contexts:
        context.close()


def assert_no_page_errors(*players: Player, console: bool = True) -> None:
    for player in players:
        assert player.errors == [], f"{player.name}: {player.errors}"
        if console:
            assert player.console == [], f"{player.name}: {player.console}"


def fight_until_won(player: Player, attempts: int = 3) -> int:
    """Fight the goblin cave in auto mode; the armed starting character nearly always wins, and if not, the
    test revives it and goes again rather than depending on luck. Returns how many revives that took."""
    page = player.page
    for attempt in range(1, attempts + 1):
        player.by("dungeon-select").select_option("cueva-goblins")
        player.by("mode-auto").check()
        player.by("combat-start").click()
        result = player.by("combat-result")
        expect(result).to_have_attribute("data-results", str(attempt), timeout=30_000)  # this fight's result
        expect(player.by("combat-round").first).to_be_visible()
        expect(player.by("energy-value")).to_have_text(f"{100 - 5 * attempt} / 100")
        if result.get_attribute("data-outcome") == "win":
            expect(player.by("combat-outcome")).to_have_text("Victory!")
            return attempt - 1
        player.shot(f"02-fight-lost-{attempt}")
        card = player.by("character-card").first
        expect(card.get_by_test_id("revive")).to_be_visible()
        card.get_by_test_id("revive").click()
        expect(card.get_by_test_id("character-wounded")).to_have_count(0)
    pytest.fail(f"no win in {attempts} goblin fights:\n{page.content()[:2000]}")


def test_two_players_fight_and_trade_in_the_browser(make_server: Callable[..., ServerProcess],
                                                    open_player: Callable[..., Player]) -> None:
    node = make_server(game={"auto_round_delay_seconds": 0.05})
    a = open_player(node, "ana")
    b = open_player(node, "bo")

    # The starting pack is on the page: one character, the energy bar full, 3 potions and a dagger.
    expect(a.by("energy-value")).to_have_text("100 / 100")
    expect(a.by("energy-next")).to_have_text("full")
    expect(a.page.locator('[data-testid="inventory-item"][data-code="pocion-vida-menor"]')).to_have_count(3)
    a.shot("01-registered")

    # A arms the character (the dagger: +5 atk) and fights the goblin cave in auto mode.
    a.page.locator('[data-testid="inventory-item"][data-code="daga-oxidada"]').get_by_test_id("equip").click()
    expect(a.by("character-atk")).to_have_text("15")
    expect(a.by("unequip-weapon")).to_be_visible()
    val_before_fight = a.val()
    revives = fight_until_won(a)
    rounds = a.by("combat-round")
    assert rounds.count() >= 1
    expect(rounds.last).to_have_text(re.compile(r"R1.*(hit for \d+|missed)"))
    expect(a.by("reward-xp")).to_contain_text("XP")
    expect(a.by("reward-val")).to_have_text(re.compile(r"\+\d+ VAL"))
    reward = int(re.search(r"\+(\d+) VAL", a.by("reward-val").inner_text()).group(1))
    expect(a.by("wallet-val")).to_have_text(str(val_before_fight + reward - 50 * revives))
    expect(a.by("energy-next")).to_have_text(re.compile(r"\+1 in \d+:\d\d"))
    expect(a.by("character-xp").first).to_contain_text("/")
    a.shot("02-fight")

    # A lists a potion; B's market shows it without a reload. (The fight may have dropped more potions.)
    a_potions = a.page.locator('[data-testid="inventory-item"][data-code="pocion-vida-menor"]')
    drops = a.by("reward-drops")
    potions = 3 + (drops.inner_text().count("Pocion Vida Menor") if drops.count() else 0)
    expect(a_potions).to_have_count(potions)
    a_potions.first.get_by_test_id("sell").click()
    expect(a.by("sell-select")).to_have_value(re.compile(r"^item:"))
    a.by("sell-price").fill("20")
    a.by("sell-submit").click()
    mine = a.by("my-listing")
    expect(mine).to_have_count(1)
    listing_id = mine.get_attribute("data-listing-id")
    expect(a_potions).to_have_count(potions - 1)
    row = b.page.locator(f'[data-testid="listing-row"][data-listing-id="{listing_id}"]')
    expect(row).to_be_visible()
    expect(row.get_by_test_id("listing-price")).to_have_text("20")
    expect(row.get_by_test_id("listing-seller")).to_have_text(a.name)
    expect(row.get_by_test_id("listing-name")).to_have_text("Pocion Vida Menor")
    own_row = a.page.locator(f'[data-testid="listing-row"][data-listing-id="{listing_id}"]')
    expect(own_row).to_contain_text("yours")
    a.shot("03-listed")
    b.shot("03-listed")
    if os.environ.get("VALGAME_README_SCREENSHOT"):
        a.page.screenshot(path=str(README_SHOT))

    # B buys it; A is told, with the new balance (price less the 5 % tax).
    val_a = a.val()
    row.get_by_test_id("listing-buy").click()
    expect(b.by("wallet-val")).to_have_text("80")
    expect(row).to_have_count(0)
    expect(b.page.locator('[data-testid="inventory-item"][data-code="pocion-vida-menor"]')).to_have_count(4)
    expect(own_row).to_have_count(0)
    expect(a.by("my-listing")).to_have_count(0)
    sale = a.page.locator('[data-testid="notification"][data-kind="sale"]')
    expect(sale).to_contain_text(f"{b.name} bought your Pocion Vida Menor for 20 VAL")
    expect(a.by("unread-count")).to_have_text("1")
    expect(a.by("wallet-val")).to_have_text(str(val_a + 19))
    a.shot("04-sold")
    b.shot("04-bought")

    # A refused command is explained in plain words; a cancelled listing leaves B's page live too.
    a_potions.first.get_by_test_id("sell").click()
    a.by("sell-price").fill("1000")
    a.by("sell-submit").click()
    expect(a.by("my-listing")).to_have_count(1)
    dear = b.page.locator('[data-testid="listing-row"]').filter(has_text="1,000")
    dear.get_by_test_id("listing-buy").click()
    expect(b.by("error-message")).to_contain_text("Not enough VAL")
    b.shot("05-refused")
    a.by("my-listing").get_by_test_id("listing-cancel").click()
    expect(dear).to_have_count(0)
    expect(a_potions).to_have_count(potions - 1)

    # Manual mode: B acts round by round, then flees.
    b.by("dungeon-select").select_option("cueva-goblins")
    b.by("mode-manual").check()
    b.by("combat-start").click()
    expect(b.by("combat-controls")).to_be_visible()
    expect(b.by("combat-deadline")).to_have_text(re.compile(r"auto-attack in 0:[0-3]\d"))
    b.by("action-attack").click()
    expect(b.by("combat-round")).to_have_count(1)
    b.by("action-flee").click()
    expect(b.by("combat-outcome")).to_have_text("You fled.")
    expect(b.by("combat-controls")).to_be_hidden()
    b.shot("06-fled")

    # Reading the notifications clears the count.
    a.by("notifications-read").click()
    expect(a.by("unread-count")).to_have_text("0")
    assert_no_page_errors(a, b)


def ops_broadcast(node: ServerProcess, token: str, message: str) -> dict[str, Any]:
    """Send `ops.broadcast` over the socket, as an ops tool would (with the SDK's blocking client)."""
    client = BlockingClient(node.ws, token=token)
    try:
        client.connect()
        return client.call("ops.broadcast", {"message": message, "key": unique_name("bc")})
    finally:
        client.close()


def test_ops_announcement_shows_as_a_banner_on_every_page(make_server: Callable[..., ServerProcess],
                                                          open_player: Callable[..., Player]) -> None:
    from protocol import COMMANDS

    if "ops.broadcast" not in COMMANDS:
        pytest.skip("the server has no ops.broadcast command yet: the banner step cannot be driven")
    node = make_server()
    a = open_player(node, "ana")
    b = open_player(node, "bo")
    message = "Maintenance at 18:00 UTC: the market closes for ten minutes."
    reply = ops_broadcast(node, make_admin(node)[1], message)
    assert reply["delivered"] >= 2, reply
    for player in (a, b):
        expect(player.by("announcement-banner")).to_have_count(1)
        expect(player.by("announcement-text")).to_have_text(message)
        player.shot("07-announcement")
    assert_no_page_errors(a, b)


def test_page_refreshes_its_token_and_rides_through_a_node_restart(make_server: Callable[..., ServerProcess],
                                                                   open_player: Callable[..., Player]) -> None:
    # Access tokens of 65 s: the page refreshes them 60 s before expiry, that is after 5 s.
    node = make_server(access_token_seconds=65)
    a = open_player(node, "ana")
    page = a.page

    # The login is kept for this tab only (sessionStorage), never in localStorage, and renewed before expiry.
    assert page.evaluate("Object.keys(localStorage).length") == 0
    first = page.evaluate("JSON.parse(sessionStorage.getItem('valgame.auth')).access_token")
    page.wait_for_function(
        "first => JSON.parse(sessionStorage.getItem('valgame.auth') || 'null')?.access_token !== first",
        arg=first, timeout=20_000)

    # A dropped socket comes back and resumes its session (the node still has the events after its seq).
    status = a.by("connection-status")
    expect(status).to_have_attribute("data-resumed", "false")  # the first connection had nothing to resume
    page.evaluate("window.valgame.conn.ws.close(4000, 'test: drop')")
    expect(status).to_have_attribute("data-resumed", "true")
    expect(status).to_have_attribute("data-state", "online")

    # SIGTERM drains the node: sockets close with 1012 and the page waits for a node to come back.
    node.terminate()
    expect(a.by("connection-status")).to_have_attribute("data-state", "reconnecting")
    a.shot("08-reconnecting")
    node.start()
    expect(status).to_have_attribute("data-state", "online", timeout=30_000)
    expect(status).to_have_attribute("data-resumed", "false")  # the new node has no history: state re-read
    expect(a.by("connection-text")).to_have_text("Online")
    expect(a.by("wallet-val")).to_have_text("100")
    expect(a.by("character-card")).to_have_count(1)

    # The new socket works: a chat message goes round through the server.
    a.by("chat-input").fill("back online")
    a.by("chat-send").click()
    expect(a.by("chat-message").last).to_contain_text("back online")
    a.shot("09-reconnected")

    # A reload keeps the login of this tab; logging out forgets it.
    page.reload()
    expect(a.by("connection-status")).to_have_attribute("data-state", "online")
    expect(a.by("player-name")).to_have_text(a.name)
    a.by("logout").click()
    expect(a.by("login-form")).to_be_visible()
    expect(a.by("auth-message")).to_have_text("You logged out.")
    assert page.evaluate("sessionStorage.getItem('valgame.auth')") is None
    assert_no_page_errors(a, console=False)  # the browser logs the refused reconnection attempts


def test_the_page_takes_the_protocol_s_constants_from_protocol_json(make_server: Callable[..., ServerProcess],
                                                                     open_player: Callable[..., Player]) -> None:
    """The client imports /protocol.json (generated from protocol/) rather than copying ranks, kinds and prices:
    the filters and the sell hint show what the contract file says."""
    contract = orjson.loads((REPO / "server" / "static" / "protocol.json").read_bytes())
    node = make_server()
    player = open_player(node, "cy")
    loaded = player.page.evaluate("performance.getEntriesByType('resource').map(e => new URL(e.name).pathname)")
    assert "/protocol.json" in loaded, loaded
    ranks = player.by("filter-rank").locator("option").evaluate_all("options => options.map(o => o.value)")
    assert ranks == ["", *(r["code"] for r in contract["game"]["ranks"])]
    kinds = player.by("filter-kind").locator("option").evaluate_all("options => options.map(o => o.value)")
    kind_field = next(f for f in contract["commands"]["market.browse"]["fields"] if f["name"] == "kind")
    assert kinds == ["", *kind_field["choices"]]
    potion = player.page.locator('[data-testid="inventory-item"][data-code="pocion-vida-menor"]').first
    potion.get_by_test_id("sell").click()
    settings = contract["game"]["settings"]
    expect(player.by("sell-hint")).to_contain_text(f"minimum {settings['market_min_price_consumable']} VAL")
    expect(player.by("sell-hint")).to_contain_text(f"featuring costs {settings['market_feature_cost']} VAL")
    assert_no_page_errors(player)
