// Ops announcements (a banner that stays until dismissed) and short-lived toasts (errors, confirmations).

import { fmtTime, h } from "../dom.js";

const TOAST_MS = { info: 4000, error: 7000, notice: 6000 };

export function mountBanners(root, app) {
  const announcements = h("div", { class: "announcements", testid: "announcements", "aria-live": "polite" });
  const toasts = h("div", { class: "toasts", testid: "toasts", "aria-live": "assertive" });
  root.append(announcements, toasts);

  const shown = new Set(); // announcement ids: a replayed or repeated one is shown once

  function announce(data) {
    const message = typeof data?.message === "string" ? data.message : "";
    if (!message) return;
    if (data.id) {
      if (shown.has(data.id)) return;
      shown.add(data.id);
    }
    const at = typeof data.at === "number" ? data.at : Date.now() / 1000;
    const banner = h("div", { class: "announcement", testid: "announcement-banner", role: "status" },
      h("strong", {}, "Announcement"),
      h("span", { class: "announcement-text", testid: "announcement-text" }, message),
      h("span", { class: "muted" }, fmtTime(at)),
      h("button", { class: "link", title: "Dismiss", onclick: () => banner.remove() }, "×"));
    announcements.prepend(banner);
    while (announcements.children.length > 3) announcements.lastChild.remove();
  }

  function toast(text, kind = "info") {
    const el = h("div", { class: `toast toast-${kind}`, testid: kind === "error" ? "error-message" : "toast",
      role: kind === "error" ? "alert" : "status" }, text);
    el.addEventListener("click", () => el.remove());
    toasts.append(el);
    while (toasts.children.length > 4) toasts.firstChild.remove();
    setTimeout(() => el.remove(), TOAST_MS[kind] ?? 4000);
  }

  // `ops.announcement` arrives on every socket (topic `ops`), or as a personal event when sent to one player.
  app.conn.on("ops.announcement", (data) => announce(data));
  return { announce, toast };
}
