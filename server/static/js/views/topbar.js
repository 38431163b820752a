// The bar at the top: who is playing, wallet, live energy, unread notifications, connection state, logout.

import { CLOSE } from "../contract.js";
import { bar, fill, fmtDuration, fmtInt, h } from "../dom.js";

const OFFLINE_WHY = {
  kicked: "Disconnected by an operator",
  replaced: "Opened in another window",
  auth: "Login needed",
};

export function mountTopbar(root, app) {
  const { store, conn } = app;
  const name = h("span", { class: "player-name", testid: "player-name" });
  const val = h("span", { class: "amount", testid: "wallet-val" });
  const evo = h("span", { class: "amount", testid: "wallet-evo" });
  const energyBox = h("div", { class: "energy", testid: "energy" });
  const unread = h("span", { class: "badge", testid: "unread-count" }, "0");
  const bell = h("button", { class: "bell", title: "Notifications", testid: "notifications-button",
    onclick: () => document.getElementById("panel-notifications")?.scrollIntoView({ behavior: "smooth" }) },
  "Alerts ", unread);
  const status = h("div", { class: "conn", testid: "connection-status", "aria-live": "polite" });
  const logout = h("button", { class: "ghost", testid: "logout", onclick: () => app.logout() }, "Log out");

  fill(root,
    h("div", { class: "who" }, name),
    h("div", { class: "wallet" },
      h("span", { title: "VAL coins" }, "VAL ", val), h("span", { title: "Evolution crystals" }, "EVO ", evo)),
    energyBox, bell, status, logout);

  store.watch("player", (p) => {
    name.textContent = p.name || "";
    val.textContent = p.val === undefined ? "…" : fmtInt(p.val);
    evo.textContent = p.evo === undefined ? "…" : fmtInt(p.evo);
  });
  store.watch("unread", (n) => {
    unread.textContent = String(n ?? 0);
    unread.classList.toggle("badge-hot", (n ?? 0) > 0);
  });

  // Energy: the bar moves with energy.updated; the countdown to the next point runs on the server's clock.
  const energyValue = h("span", { testid: "energy-value" });
  const energyNext = h("span", { class: "muted energy-next", testid: "energy-next" });
  function renderEnergy() {
    const e = store.get("energy");
    if (!e) return;
    energyValue.textContent = `${e.energy} / ${e.max}`;
    fill(energyBox, h("span", { class: "label" }, "Energy"),
      bar(e.energy, e.max, { kind: "energy", label: "", testid: "energy-bar" }), energyValue, energyNext);
    tickEnergy();
  }
  function tickEnergy() {
    const e = store.get("energy");
    if (!e) return;
    if (e.next_at == null || e.energy >= e.max) energyNext.textContent = "full";
    else {
      const left = e.next_at - conn.serverNow();
      energyNext.textContent = left > 0 ? `+1 in ${fmtDuration(left)}` : "+1 any moment";
    }
  }
  store.watch("energy", renderEnergy);

  // Connection state, always visible.
  function renderStatus() {
    const s = store.get("connection") || { state: "offline" };
    status.dataset.state = s.state;
    if (s.state === "online") status.dataset.resumed = String(!!s.resumed); // did the last reconnect resume?
    let text;
    let action = null;
    if (s.state === "online") text = "Online";
    else if (s.state === "connecting") text = "Connecting…";
    else if (s.state === "reconnecting") {
      const left = s.retryAt ? Math.ceil((s.retryAt - Date.now()) / 1000) : 0;
      text = s.code === CLOSE.DRAINING ? "Server restarting, reconnecting…"
        : left > 0 ? `Connection lost, retrying in ${left} s` : "Reconnecting…";
    } else {
      text = OFFLINE_WHY[s.reason] || "Offline";
      if (s.reason === "kicked" || s.reason === "replaced") {
        action = h("button", { class: "link", testid: "reconnect", onclick: () => conn.reconnect() }, "Reconnect");
      }
    }
    fill(status, h("span", { class: "dot" }), h("span", { testid: "connection-text" }, text), action);
    status.title = s.node ? `node ${s.node}` : "";
  }
  store.watch("connection", renderStatus);

  setInterval(() => {
    tickEnergy();
    if (store.get("connection")?.state === "reconnecting") renderStatus();
  }, 1000);
}
