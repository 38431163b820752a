// The game client: logs in over HTTP, then speaks protocol v1 over the socket the node names at /ws-url (/ws beside
// HTTP, or another port with the picows transport). Each panel lives in views/.

import { Auth } from "./api.js";
import { describeError } from "./dom.js";
import { settingsOf } from "./contract.js";
import { Connection } from "./protocol.js";
import { Store } from "./store.js";
import { mountAuth } from "./views/auth.js";
import { mountBanners } from "./views/banners.js";
import { mountCharacters } from "./views/characters.js";
import { mountChat } from "./views/chat.js";
import { mountCombat } from "./views/combat.js";
import { mountInventory } from "./views/inventory.js";
import { mountMarket } from "./views/market.js";
import { mountNotifications } from "./views/notifications.js";
import { mountRankings } from "./views/rankings.js";
import { mountTopbar } from "./views/topbar.js";

const $ = (id) => document.getElementById(id);
const FLASH = "valgame.flash"; // a message shown on the login page after a reload

/** A socket path on the page's own host and port. */
function sameOrigin(path) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}${path}`;
}

/** Where the node serves its socket (`GET /ws-url`: absolute, or a path on this host); /ws here if it cannot say. */
async function socketUrl() {
  try {
    const response = await fetch("/ws-url");
    if (response.ok) {
      const { url } = await response.json();
      return url.includes("://") ? url : sameOrigin(url);
    }
  } catch (err) {
    // the node is unreachable right now: the connection's own retries report it
  }
  return sameOrigin("/ws");
}

class App {
  constructor() {
    this.store = new Store({ connection: { state: "offline" } });
    this.auth = new Auth({ onExpired: () => this.loggedOut("Your login expired; please log in again.") });
    this.conn = new Connection({ url: sameOrigin("/ws"), getToken: () => this.auth.accessToken() });
    this.catalog = null;
    this.started = false;
  }

  boot() {
    this.banners = mountBanners($("banners"), this);
    mountAuth($("auth-view"), this);
    const flash = sessionStorage.getItem(FLASH);
    sessionStorage.removeItem(FLASH);
    if (this.auth.restore()) this.enterGame();
    else this.showAuth(flash);
  }

  showAuth(message = null) {
    $("game-view").hidden = true;
    $("topbar-game").hidden = true;
    $("auth-view").hidden = false;
    this.store.set("auth-message", message);
  }

  /** Logged in: show the game and open the socket. */
  enterGame() {
    $("auth-view").hidden = true;
    $("game-view").hidden = false;
    $("topbar-game").hidden = false;
    this.store.set("player", { name: this.auth.name });
    if (!this.started) {
      this.started = true;
      this.wireConnection();
      mountTopbar($("topbar-game"), this);
      mountCharacters($("panel-characters"), this);
      mountInventory($("panel-inventory"), this);
      mountCombat($("panel-combat"), this);
      mountMarket($("panel-market"), this);
      mountRankings($("panel-rankings"), this);
      mountChat($("panel-chat"), this);
      mountNotifications($("panel-notifications"), this);
    }
    socketUrl().then((url) => {
      this.conn.url = url;
      this.conn.start();
    });
  }

  async logout() {
    this.conn.stop();
    await this.auth.logout();
    this.loggedOut("You logged out.");
  }

  loggedOut(message) {
    this.conn.stop();
    this.auth.forget();
    if (!this.started) return this.showAuth(message);
    // Start afresh, so nothing of this player stays in the panels for the next one.
    sessionStorage.setItem(FLASH, message);
    location.reload();
  }

  wireConnection() {
    const { conn, store } = this;
    let authFailures = 0; // in a row: a token the server keeps refusing ends the login
    conn.on("status", (status) => store.set("connection", status));
    conn.on("ready", ({ reply }) => {
      authFailures = 0;
      store.patch("player", reply.player);
      store.set("unread", reply.player.unread ?? 0);
      store.set("energy", { energy: reply.player.energy, max: reply.player.energy_max,
        next_at: reply.player.next_energy_at });
      // Re-read what may have changed while away, resumed or not (each panel also catches up on its own).
      this.reloadState();
    });
    conn.on("auth-failed", async () => {
      authFailures += 1;
      if (authFailures > 2) {
        this.loggedOut("The server refused this login; please log in again.");
        return;
      }
      try {
        await this.auth.refresh();
        conn.reconnect();
      } catch (err) {
        if (err.code === "network") setTimeout(() => conn.reconnect(), 3000);
        else this.loggedOut("Your login is no longer valid; please log in again.");
      }
    });
    conn.on("error", (error) => this.showError(error));
    conn.on("wallet.updated", (data) => store.patch("player", { val: data.val, evo: data.evo }));
    conn.on("energy.updated", (data) => store.set("energy", data));
    conn.on("character.lost", () => this.refreshCharacters());
    conn.on("notification.new", (data) => store.set("unread", data.unread));
  }

  async reloadState() {
    try {
      if (!this.catalog) this.setCatalog(await this.conn.call("catalog.get"));
      await Promise.all([this.refreshCharacters(), this.refreshInventory(), this.refreshEnergy()]);
    } catch (err) {
      this.showError(err);
    }
  }

  setCatalog(data) {
    const byCode = (list) => new Map((list || []).map((entry) => [entry.code, entry]));
    this.catalog = {
      characters: byCode(data.characters), equipment: byCode(data.equipment), consumables: byCode(data.consumables),
      dungeons: data.dungeons || [], ranks: (data.ranks || []).map((r) => r.code), settings: settingsOf(data),
    };
    this.store.set("catalog", this.catalog);
  }

  async refreshCharacters() {
    const data = await this.conn.call("character.list");
    this.store.set("characters", data.characters);
  }

  async refreshInventory() {
    const data = await this.conn.call("inventory.get");
    this.store.set("inventory", data.items);
  }

  async refreshEnergy() {
    this.store.set("energy", await this.conn.call("energy.get"));
  }

  /** Put one changed character (from a reply) into the list. */
  updateCharacter(view) {
    if (!view) return;
    const list = (this.store.get("characters") || []).map((c) => (c.id === view.id ? view : c));
    this.store.set("characters", list);
  }

  /**
   * Run a player's action: the button is disabled meanwhile, a failure is shown in plain words.
   * Resolves with the reply data, or null when it failed.
   */
  async act(button, work, success = null) {
    if (button) button.disabled = true;
    try {
      const result = await work();
      if (success) this.banners.toast(typeof success === "function" ? success(result) : success, "info");
      return result;
    } catch (err) {
      this.showError(err);
      return null;
    } finally {
      if (button) button.disabled = false;
    }
  }

  showError(err) {
    console.warn("error", err);
    this.banners.toast(describeError(err), "error");
  }
}

const app = new App();
window.valgame = app; // handy from the browser console
app.boot();
