// Global chat (topic `chat:global:digest`) and whispers. "/w name text" whispers to one player.

import { fill, fmtTime, h } from "../dom.js";

const KEEP = 200;

export function mountChat(root, app) {
  const { conn, store } = app;
  const list = h("ul", { class: "chat", testid: "chat-messages", "aria-live": "polite" });
  const input = h("input", { maxlength: "500", placeholder: "Say something… (/w name text to whisper)",
    testid: "chat-input", autocomplete: "off" });
  const form = h("form", { class: "chat-form", testid: "chat-form" }, input,
    h("button", { type: "submit", testid: "chat-send" }, "Send"));
  fill(root, h("h2", {}, "Chat"), list, form);
  const seen = new Set();

  function line(m) {
    const whisper = m.channel === "whisper";
    const mine = m.from === store.get("player")?.name;
    const who = whisper ? (mine ? `you → ${m.to}` : `${m.from} → you`) : m.from;
    return h("li", { class: `${whisper ? "whisper" : ""} ${mine ? "mine" : ""}`, testid: "chat-message" },
      h("span", { class: "muted" }, fmtTime(m.at ?? Date.now() / 1000)), " ",
      h("strong", {}, who), ": ", h("span", { class: "text" }, m.text));
  }

  function add(m) {
    if (m.id && seen.has(m.id)) return;
    if (m.id) seen.add(m.id);
    const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 8;
    list.append(line(m));
    while (list.children.length > KEEP) list.firstChild.remove();
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    const whisper = text.match(/^\/w\s+(\S+)\s+(.+)$/s);
    const button = form.querySelector("button");
    const ok = await app.act(button, async () => {
      if (whisper) {
        const [, to, body] = whisper;
        const r = await conn.call("chat.whisper", { to, text: body });
        add({ id: r.id, at: r.at, from: store.get("player")?.name, to, text: body, channel: "whisper" });
      } else {
        await conn.call("chat.send", { text });
      }
      return true;
    });
    if (ok) input.value = "";
  });

  conn.on("chat.message", add); // whispers (personal events)
  // The global chat comes as its digest: a second's messages in one frame, however many players talk.
  conn.on("chat.digest", ({ events, skipped }) => {
    events.forEach((event) => add(event.data));
    if (skipped) { // more than a frame holds: the history has them (add() drops those already shown)
      conn.call("chat.history", { limit: 50 }).then(({ messages }) => messages.forEach(add))
        .catch((err) => app.showError(err));
    }
  });
  conn.on("ready", async () => {
    try {
      await conn.call("sub.add", { topic: "chat:global:digest" });
      const { messages } = await conn.call("chat.history", { limit: 50 });
      messages.forEach(add);
      list.scrollTop = list.scrollHeight;
    } catch (err) {
      app.showError(err);
    }
  });
}
