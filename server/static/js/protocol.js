// Protocol v1 over one WebSocket: command ids, reply matching, events in seq order, reconnect with resume.
//
// Usage:
//   const conn = new Connection({ url, getToken });
//   conn.on("status", ({ state }) => ...);            // connecting | online | reconnecting | offline
//   conn.on("ready", ({ reply, resumed }) => ...);     // after every successful auth
//   conn.on("energy.updated", (data, frame) => ...);   // any event type, or "*" for all
//   const data = await conn.call("market.buy", { listing }, { idem: true });   // rejects with a ProtocolError

import { CLOSE, READ_ONLY } from "./contract.js";

export { CLOSE };

const COMMAND_TIMEOUT_MS = 15000;
const HEARTBEAT_MS = 25000;

export class ProtocolError extends Error {
  constructor({ code, message, field, retry_after_ms } = {}, type = null) {
    super(message || code || "error");
    this.code = code;
    this.field = field;
    this.retry_after_ms = retry_after_ms;
    this.type = type;
  }
}

export class Connection {
  constructor({ url, getToken, random = Math.random }) {
    this.url = url;
    this.getToken = getToken; // async () => access token (refreshed by the caller when needed)
    this.random = random;
    this.state = "offline";
    this.session = null; // the last session id, for resume
    this.lastSeq = 0; // last personal event seq seen
    this.node = null;
    this.serverOffsetMs = 0; // server clock − local clock
    this.ws = null;
    this.attempt = 0;
    this.retryTimer = null;
    this.heartbeat = null;
    this.wanted = false; // should a connection be open?
    this.authed = false;
    this.nextId = 1;
    this.pending = new Map(); // id → { frame, resolve, reject, timer, sent }
    this.handlers = new Map();
    this.lastClose = null;
    this._onOnline = () => { if (this.wanted && this.state === "reconnecting") this._connectNow(); };
    window.addEventListener("online", this._onOnline);
  }

  on(type, fn) {
    if (!this.handlers.has(type)) this.handlers.set(type, new Set());
    this.handlers.get(type).add(fn);
    return () => this.handlers.get(type).delete(fn);
  }

  _emit(type, data, frame) {
    for (const key of [type, "*"]) {
      for (const fn of this.handlers.get(key) || []) {
        try {
          fn(data, frame);
        } catch (err) {
          console.error(`handler for ${type} failed`, err);
        }
      }
    }
  }

  _setState(state, detail = {}) {
    this.state = state;
    this._emit("status", { state, ...detail });
  }

  /** Server time now, in epoch seconds (the local clock corrected by the offset seen at auth). */
  serverNow() {
    return (Date.now() + this.serverOffsetMs) / 1000;
  }

  start() {
    this.wanted = true;
    this._connectNow();
  }

  /** Close for good (logout). */
  stop() {
    this.wanted = false;
    clearTimeout(this.retryTimer);
    this._stopHeartbeat();
    for (const entry of this.pending.values()) this._fail(entry, { code: "disconnected", message: "logged out" });
    this.pending.clear();
    if (this.ws) this.ws.close(CLOSE.NORMAL, "bye");
    this.ws = null;
    this.session = null;
    this.lastSeq = 0;
    this._setState("offline");
  }

  /** Reconnect at once (after a kick or replacement, when the player asks). */
  reconnect() {
    this.wanted = true;
    this.attempt = 0;
    this._connectNow();
  }

  /** Send a command; resolves with the reply's data, rejects with a ProtocolError. `idem: true` makes a key. */
  call(type, data = {}, { idem = null, timeout = COMMAND_TIMEOUT_MS } = {}) {
    const id = `c${this.nextId++}`;
    const frame = { id, type, data };
    if (idem) frame.idem = idem === true ? makeIdem(type) : idem;
    return new Promise((resolve, reject) => {
      const entry = { frame, resolve, reject, sent: false, timer: null };
      entry.timer = setTimeout(() => {
        this.pending.delete(id);
        this._fail(entry, { code: "timeout", message: `no answer to ${type}` });
      }, timeout);
      this.pending.set(id, entry);
      if (this.authed) this._send(entry);
      // otherwise it waits for the next successful auth
    });
  }

  _send(entry) {
    entry.sent = true;
    this.ws.send(JSON.stringify(entry.frame));
  }

  _fail(entry, error) {
    clearTimeout(entry.timer);
    entry.reject(new ProtocolError(error, entry.frame.type));
  }

  _connectNow() {
    clearTimeout(this.retryTimer);
    if (this.ws) {
      const old = this.ws;
      this.ws = null;
      old.onclose = null;
      old.close(CLOSE.NORMAL, "reconnecting");
      this._dropUnsafe();
    }
    this.authed = false;
    this._setState(this.session ? "reconnecting" : "connecting", { attempt: this.attempt });
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      this._scheduleRetry(null);
      return;
    }
    this.ws = ws;
    ws.onopen = () => this._authenticate(ws);
    ws.onmessage = (msg) => this._receive(ws, msg.data);
    ws.onclose = (ev) => this._closed(ws, ev);
  }

  async _authenticate(ws) {
    let token;
    try {
      token = await this.getToken();
    } catch (err) {
      if (ws !== this.ws) return;
      if (err?.code === "network") {
        ws.close(4000, "token refresh unreachable"); // try again later, with backoff
        return;
      }
      // The login cannot be renewed: the caller's Auth has already said so (and logs the player out).
      this.wanted = false;
      ws.close(CLOSE.NORMAL, "no token");
      return;
    }
    if (ws !== this.ws) return;
    const data = { token };
    if (this.session) data.resume = { session: this.session, seq: this.lastSeq };
    this.authId = `auth${this.nextId++}`;
    ws.send(JSON.stringify({ id: this.authId, type: "auth", data }));
  }

  _receive(ws, raw) {
    if (ws !== this.ws) return;
    let frame;
    try {
      frame = JSON.parse(raw);
    } catch {
      return;
    }
    if ("ok" in frame) {
      if (frame.id === this.authId) return this._authReply(frame);
      const entry = this.pending.get(frame.id);
      if (!entry) {
        if (!frame.ok) this._emit("error", frame.error, frame); // a refusal we cannot match (id unreadable)
        return;
      }
      this.pending.delete(frame.id);
      clearTimeout(entry.timer);
      if (frame.ok) entry.resolve(frame.data ?? {});
      else entry.reject(new ProtocolError(frame.error, frame.type));
      return;
    }
    if (typeof frame.seq === "number") {
      if (frame.seq <= this.lastSeq) return; // already seen (a replay overlapping what we had)
      this.lastSeq = frame.seq;
    }
    this._emit(frame.type, frame.data ?? {}, frame);
  }

  _authReply(frame) {
    if (!frame.ok) {
      this._emit("error", frame.error, frame);
      return; // the server closes with 4001; _closed decides what next
    }
    const reply = frame.data;
    const resumed = reply.resumed === true;
    this.session = reply.session;
    this.node = reply.node;
    if (typeof reply.server_time === "number") this.serverOffsetMs = reply.server_time * 1000 - Date.now();
    if (!resumed) this.lastSeq = reply.seq ?? 0;
    this.authed = true;
    this.attempt = 0;
    this._startHeartbeat();
    this._setState("online", { node: reply.node, resumed });
    this._emit("ready", { reply, resumed });
    // Commands waiting for a socket, and those sent before a drop that are safe to repeat.
    for (const entry of this.pending.values()) this._send(entry);
  }

  _closed(ws, ev) {
    if (ws !== this.ws) return;
    this.ws = null;
    this.authed = false;
    this._stopHeartbeat();
    this.lastClose = { code: ev.code, reason: ev.reason };
    this._dropUnsafe();
    if (!this.wanted) return this._setState("offline");
    switch (ev.code) {
      case CLOSE.NOT_AUTHENTICATED:
        this._setState("offline", { code: ev.code, reason: "auth" });
        this._emit("auth-failed", { code: ev.code, reason: ev.reason });
        return;
      case CLOSE.KICKED:
        this.wanted = false;
        this._setState("offline", { code: ev.code, reason: "kicked" });
        return;
      case CLOSE.REPLACED:
        this.wanted = false;
        this._setState("offline", { code: ev.code, reason: "replaced" });
        return;
      case CLOSE.DRAINING: {
        // The node is going away: any node will do, after a short random delay so clients do not stampede.
        this.attempt = 0;
        this._scheduleRetry(ev.code, 250 + this.random() * 1750);
        return;
      }
      default:
        this._scheduleRetry(ev.code);
    }
  }

  /** Changes sent without an idem key may or may not have been applied: tell the caller instead of guessing.
   *  Read-only commands (protocol.json's `read_only`) and keyed changes stay pending and are sent again after the
   *  next auth. */
  _dropUnsafe() {
    for (const [id, entry] of this.pending) {
      if (entry.sent && !entry.frame.idem && !READ_ONLY.has(entry.frame.type)) {
        this.pending.delete(id);
        this._fail(entry, { code: "disconnected", message: "check whether it happened before trying again" });
      }
    }
  }

  _scheduleRetry(code, delayMs = null) {
    const delay = delayMs ?? Math.min(15000, 500 * 2 ** this.attempt) * (0.5 + this.random() * 0.5);
    this.attempt += 1;
    const retryAt = Date.now() + delay;
    this._setState("reconnecting", { code, retryAt, attempt: this.attempt });
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this._connectNow(), delay);
  }

  // The server pings at the WebSocket level (the browser answers by itself); this app-level ping notices a
  // connection that died without a close frame, which the browser may take minutes to report.
  _startHeartbeat() {
    this._stopHeartbeat();
    this.heartbeat = setInterval(() => {
      const ws = this.ws;
      this.call("ping", {}, { timeout: 10000 }).catch((err) => {
        if (err.code === "timeout" && ws && ws === this.ws) ws.close(4000, "heartbeat timeout");
      });
    }, HEARTBEAT_MS);
  }

  _stopHeartbeat() {
    clearInterval(this.heartbeat);
    this.heartbeat = null;
  }
}

function makeIdem(type) {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  return `${type}-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`.slice(0, 64);
}
