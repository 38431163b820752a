// HTTP beside the socket: register, log in, refresh and log out. The tokens live in this tab only
// (sessionStorage, never localStorage): closing the tab forgets them.

const KEY = "valgame.auth";
const REFRESH_MARGIN_S = 60; // refresh this long before the access token expires

export class ApiError extends Error {
  constructor(status, { code, message, field, retry_after_ms } = {}) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.field = field;
    this.retry_after_ms = retry_after_ms;
  }
}

const BUSY_RETRIES = 3; // a 503 with Retry-After (the node's password hashing is saturated) is tried again

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function post(path, body, headers = {}) {
  for (let attempt = 0; ; attempt++) {
    let response;
    try {
      response = await fetch(path, {
        method: "POST",
        headers: { "Content-Type": "application/json", ...headers },
        body: JSON.stringify(body),
      });
    } catch (err) {
      throw new ApiError(0, { code: "network", message: "cannot reach the server" });
    }
    let payload = {};
    try {
      payload = await response.json();
    } catch {
      // not JSON: keep the status only
    }
    if (response.ok) return payload;
    const wait = Number(response.headers.get("Retry-After"));
    // 503 `unavailable` means nothing was done: coming back when the server says is safe, even for a register.
    if (response.status === 503 && wait > 0 && wait <= 30 && attempt < BUSY_RETRIES) {
      await sleep(wait * 1000 * (1 + Math.random() / 2));
      continue;
    }
    throw new ApiError(response.status, payload.error || { code: "internal" });
  }
}

export class Auth {
  constructor({ storage = window.sessionStorage, onExpired = () => {} } = {}) {
    this.storage = storage;
    this.onExpired = onExpired; // called when the login cannot be renewed any more
    this.tokens = null; // { access_token, refresh_token, expires_at, player_id, name }
    this.timer = null;
    this.refreshing = null;
  }

  /** The login kept by this tab, if any. */
  restore() {
    try {
      this.tokens = JSON.parse(this.storage.getItem(KEY) || "null");
    } catch {
      this.tokens = null;
    }
    if (this.tokens) this._schedule();
    return this.tokens;
  }

  get name() {
    return this.tokens?.name ?? null;
  }

  async register(username, email, password) {
    this._keep(await post("/auth/register", { username, email, password })); // signed in: no second hash
    return this.tokens;
  }

  async login(username, password) {
    this._keep(await post("/auth/login", { username, password }));
    return this.tokens;
  }

  /** A valid access token, refreshed first when it is (nearly) expired. */
  async accessToken() {
    if (!this.tokens) throw new ApiError(401, { code: "unauthorized", message: "not logged in" });
    if (this.tokens.expires_at - Date.now() / 1000 < REFRESH_MARGIN_S) await this.refresh();
    return this.tokens.access_token;
  }

  /** Trade the refresh token for a new pair (one refresh at a time). */
  refresh() {
    if (!this.refreshing) {
      this.refreshing = (async () => {
        try {
          if (!this.tokens) throw new ApiError(401, { code: "unauthorized", message: "not logged in" });
          this._keep(await post("/auth/refresh", { refresh_token: this.tokens.refresh_token }));
        } catch (err) {
          if (err.code !== "network") {
            this.forget();
            this.onExpired(err);
          }
          throw err;
        } finally {
          this.refreshing = null;
        }
      })();
    }
    return this.refreshing;
  }

  async logout() {
    const tokens = this.tokens;
    this.forget();
    if (!tokens) return;
    try {
      await post("/auth/logout", { refresh_token: tokens.refresh_token },
        { Authorization: `Bearer ${tokens.access_token}` });
    } catch {
      // the tokens are forgotten here anyway; they expire on their own
    }
  }

  forget() {
    clearTimeout(this.timer);
    this.tokens = null;
    this.storage.removeItem(KEY);
  }

  _keep(answer) {
    this.tokens = {
      access_token: answer.access_token,
      refresh_token: answer.refresh_token,
      expires_at: Date.now() / 1000 + answer.expires_in,
      player_id: answer.player_id,
      name: answer.name,
    };
    this.storage.setItem(KEY, JSON.stringify(this.tokens));
    this._schedule();
  }

  _schedule() {
    clearTimeout(this.timer);
    const lifetime = this.tokens.expires_at - Date.now() / 1000;
    const wait = Math.max(5, Math.min(lifetime - REFRESH_MARGIN_S, lifetime * 0.8));
    this.timer = setTimeout(() => {
      this.refresh().catch((err) => {
        if (err.code === "network") this.timer = setTimeout(() => this._schedule(), 10000);
      });
    }, wait * 1000);
  }
}
