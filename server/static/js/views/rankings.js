// Leaderboards: all time, this ISO week, best level, wealth; the top or the players around me. Live while open.

import { fill, fmtInt, h } from "../dom.js";

/** ISO week of an epoch second in UTC, e.g. "2026-W48" (the server's weekly board names). */
export function isoWeek(epochSeconds) {
  const now = new Date(epochSeconds * 1000);
  const date = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  const weekday = date.getUTCDay() || 7; // Monday = 1 … Sunday = 7
  date.setUTCDate(date.getUTCDate() + 4 - weekday); // the Thursday of this week decides the year
  const yearStart = Date.UTC(date.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((date - yearStart) / 86400000 + 1) / 7);
  return `${date.getUTCFullYear()}-W${String(week).padStart(2, "0")}`;
}

export function mountRankings(root, app) {
  const { store, conn } = app;
  let subscribed = null;
  let pending = null;

  const board = h("select", { testid: "ranking-board" });
  const view = h("select", { testid: "ranking-view" },
    h("option", { value: "top" }, "top 10"), h("option", { value: "around" }, "around me"));
  const me = h("p", { class: "muted", testid: "ranking-me" });
  const rows = h("ol", { class: "ranking", testid: "ranking-list" });
  fill(root, h("h2", {}, "Rankings"), h("div", { class: "inline" }, board, view), me, rows);

  function boards() {
    const week = isoWeek(conn.serverNow());
    return [["points", "all-time points"], [`points:${week}`, `this week (${week})`], ["level", "best level"],
      ["wealth", "wealth"]];
  }

  function renderBoards() {
    const chosen = board.value;
    fill(board, boards().map(([value, label]) => h("option", { value }, label)));
    if ([...board.options].some((o) => o.value === chosen)) board.value = chosen;
  }

  async function load() {
    try {
      const name = board.value;
      const [list, mine] = await Promise.all([
        view.value === "top" ? conn.call("ranking.top", { board: name, limit: 10 })
          : conn.call("ranking.around", { board: name, radius: 4 }),
        conn.call("ranking.me", { board: name }),
      ]);
      const myId = store.get("player")?.id;
      fill(rows, list.entries.length ? list.entries.map((e) =>
        h("li", { class: e.player === myId ? "me" : "", testid: "ranking-entry", value: e.rank },
          h("span", { class: "rank-no" }, `#${e.rank}`), h("span", { class: "who" }, e.name ?? e.player),
          h("span", { class: "num" }, fmtInt(e.score))))
        : h("li", { class: "muted" }, "Nobody here yet."));
      me.textContent = mine.rank ? `You: #${mine.rank} with ${fmtInt(mine.score)}` : "You are not ranked here yet.";
      await follow(name);
    } catch (err) {
      app.showError(err);
    }
  }

  // Follow the shown board live (`ranking:<board>`), refreshing at most once a second.
  async function follow(name) {
    if (subscribed === name) return;
    if (subscribed) await conn.call("sub.remove", { topic: `ranking:${subscribed}` }).catch(() => {});
    subscribed = name;
    await conn.call("sub.add", { topic: `ranking:${name}` });
  }

  conn.on("ranking.updated", (data) => {
    if (data.board !== board.value || pending) return;
    pending = setTimeout(() => {
      pending = null;
      load();
    }, 1000);
  });

  board.addEventListener("change", load);
  view.addEventListener("change", load);
  conn.on("ready", () => {
    subscribed = null; // a new connection has no subscriptions
    renderBoards();
    load();
  });
}
