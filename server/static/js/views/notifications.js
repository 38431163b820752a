// Notifications (sales, level-ups, lost characters, expired listings, announcements) with the unread count.

import { fill, fmtInt, fmtTime, h, title } from "../dom.js";

/** One notification in plain words. */
export function notificationText(kind, d = {}) {
  switch (kind) {
    case "sale":
      return `${d.buyer ?? "Someone"} bought your ${title(d.code)} for ${fmtInt(d.price)} VAL — `
        + `you received ${fmtInt(d.received)} VAL (tax ${fmtInt(d.tax)}).`;
    case "purchase":
      return `You bought ${title(d.code)} for ${fmtInt(d.price)} VAL.`;
    case "level_up":
      return `${title(d.base) || "A character"} reached level ${d.level}!`;
    case "character_lost":
      return `${title(d.base) || "A character"} (rank ${d.rank ?? "?"}) was lost after staying wounded too long.`;
    case "listing_expired":
      return `Your listing of ${title(d.code)} expired; it is back in your inventory.`;
    case "announcement":
      return d.message ?? "Announcement.";
    default:
      return d.message ?? title(kind);
  }
}

export function mountNotifications(root, app) {
  const { conn, store } = app;
  let notes = [];
  const list = h("ul", { class: "notifications", testid: "notifications" });
  const markAll = h("button", { class: "link", testid: "notifications-read",
    onclick: (e) => app.act(e.currentTarget, async () => {
      const r = await conn.call("notification.read", {});
      store.set("unread", r.unread);
      notes = notes.map((n) => ({ ...n, read: true }));
      render();
    }) }, "mark all read");
  fill(root, h("h2", {}, "Notifications ", markAll), list);

  function render() {
    fill(list, notes.length ? notes.map((n) => h("li", { class: n.read ? "read" : "unread", testid: "notification",
      dataset: { kind: n.kind, id: n.id } },
    h("span", { class: "muted" }, fmtTime(n.at)), " ", notificationText(n.kind, n.data)))
      : h("li", { class: "muted" }, "Nothing new."));
  }

  conn.on("notification.new", (n) => {
    notes = [{ ...n, read: false }, ...notes.filter((x) => x.id !== n.id)].slice(0, 50);
    render();
    app.banners.toast(notificationText(n.kind, n.data), "notice");
  });
  conn.on("ready", async () => {
    try {
      const r = await conn.call("notification.list", { limit: 20 });
      notes = r.notifications;
      store.set("unread", r.unread);
      render();
    } catch (err) {
      app.showError(err);
    }
  });
  render();
}
