// Small DOM and formatting helpers. Text always goes through textContent: nothing a player typed is parsed as HTML.

/** Build an element: h("button", {class: "x", dataset: {testid: "y"}, onclick: fn}, "text", child, ...). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "testid") el.dataset.testid = value;
    else if (key === "style" && typeof value === "object") Object.assign(el.style, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** "vision-espectral" → "Vision Espectral". */
export function title(code) {
  if (!code) return "";
  return String(code).split("-").map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join(" ");
}

export function fmtInt(n) {
  return Number(n ?? 0).toLocaleString("en-US");
}

/** Seconds → "5:07" or "1:02:03". */
export function fmtDuration(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  const hours = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(hours ? 2 : 1, "0");
  const ss = String(s % 60).padStart(2, "0");
  return hours ? `${hours}:${mm}:${ss}` : `${mm}:${ss}`;
}

export function fmtTime(epochSeconds) {
  return new Date(epochSeconds * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/** A labelled bar: h("div.bar") with a fill of value/max. */
export function bar(value, max, { kind = "hp", label = null, testid = null } = {}) {
  const pct = max > 0 ? Math.max(0, Math.min(100, (100 * value) / max)) : 0;
  return h("div", { class: `bar bar-${kind}`, testid, role: "meter", "aria-valuenow": value, "aria-valuemax": max },
    h("div", { class: "bar-fill", style: { width: `${pct}%` } }),
    h("span", { class: "bar-label" }, label ?? `${fmtInt(value)} / ${fmtInt(max)}`));
}

const PLAIN = {
  bad_request: "That request was not valid",
  unknown_type: "The server does not know this command",
  unauthorized: "You are not logged in (or your login expired)",
  forbidden: "You are not allowed to do that",
  not_found: "That no longer exists",
  conflict: "That is not possible right now",
  insufficient_funds: "Not enough VAL",
  insufficient_energy: "Not enough energy",
  inventory_full: "Your inventory is full",
  level_too_low: "Level too low",
  character_wounded: "That character is wounded; revive it first",
  in_combat: "Busy in a combat",
  rate_limited: "Slow down a little",
  maintenance: "The server is under maintenance; try again in a moment",
  internal: "Something went wrong on the server",
  timeout: "The server did not answer in time",
  disconnected: "The connection was lost before the server answered",
  network: "Cannot reach the server",
};

/** An error (reply error, HTTP error or exception) in plain words. */
export function describeError(err) {
  const code = err?.code;
  const base = PLAIN[code];
  const message = err?.message && err.message !== base ? err.message : "";
  if (code === "rate_limited" && err.retry_after_ms) {
    return `${base}: try again in ${Math.ceil(err.retry_after_ms / 1000)} s.`;
  }
  if (base) return message ? `${base}: ${message}.` : `${base}.`;
  return message || "Something went wrong.";
}

/** A short random key for idempotent commands. */
export function randomKey(prefix = "k") {
  const bytes = new Uint8Array(9);
  crypto.getRandomValues(bytes);
  return prefix + "-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
