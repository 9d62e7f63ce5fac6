// The page's connection and message bookkeeping. No DOM here: app.js draws what this decides.
//
// ChatConnection keeps one WebSocket open: it reconnects with exponential backoff and full
// jitter, pings before API Gateway's 10-minute idle timeout and drops a socket whose pong never
// comes. RoomLog keeps one room's messages in seq order, drops duplicates by id and tells when a
// seq is missing, so the page can fill the gap with `history(after=lastSeq)`. messagesOf reads a
// `messages` frame (several messages of a room at once) as the messages it carries;
// fetchHistoryPage reads earlier history over the HTTP API when the stack has one.

export const STATES = Object.freeze({
  IDLE: "idle",
  CONNECTING: "connecting",
  ONLINE: "online",
  RECONNECTING: "reconnecting",
  OFFLINE: "offline",
});

let refCounter = 0;

/** A client reference (<= 64 chars) unique enough to match a reply to its request. */
export function newRef(prefix = "r") {
  refCounter += 1;
  const random = Math.floor(Math.random() * 0x100000000).toString(36);
  return `${prefix}-${Date.now().toString(36)}-${refCounter.toString(36)}-${random}`;
}

/** Full jitter: a uniform delay in [0, min(cap, base * 2^attempt)]. */
export function backoffDelay(attempt, { baseMs = 500, capMs = 30000, random = Math.random } = {}) {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/** The claims of a JWT, read without checking it (the server checks it), or null. */
export function decodeToken(token) {
  try {
    const part = token.split(".")[1];
    const base64 = part.replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims && typeof claims === "object" ? claims : null;
  } catch {
    return null;
  }
}

/** The `dm:{a}:{b}` room two users share (ids sorted, as the server names it). */
export function dmRoom(a, b) {
  const [first, second] = [a, b].sort();
  return `dm:${first}:${second}`;
}

/** The other user of a DM room, seen from `me`. */
export function dmPeer(room, me) {
  const [, a, b] = room.split(":");
  return a === me ? b : a;
}

export function isDm(room) {
  return room.startsWith("dm:");
}

/** Append the token to a WebSocket URL as API Gateway's authorizer expects it. */
export function socketUrl(url, token) {
  const sep = url.includes("?") ? "&" : "?";
  return `${url}${sep}token=${encodeURIComponent(token)}`;
}

/**
 * The message events a server event carries: a `message` is itself; a `messages` frame (several
 * messages of one busy room in one frame, as the broadcaster sends them) is its items in seq
 * order, each shaped like a `message` that came alone; anything else carries none.
 */
export function messagesOf(event) {
  if (!event || typeof event !== "object") return [];
  if (event.type === "message") return [event];
  if (event.type !== "messages" || !Array.isArray(event.messages)) return [];
  return event.messages
    .filter((item) => item && typeof item === "object")
    .map((item) => ({ room: event.room, ...item, type: "message" }))
    .sort((a, b) => Number(a.seq) - Number(b.seq));
}

/**
 * One page of a room's history from the HTTP API (`GET /rooms/{room}/messages`), in seq order:
 * `{room, messages, next}`. Rejects with an Error carrying the API's stable `code`.
 */
export async function fetchHistoryPage(httpUrl, token, room, { before, after, limit } = {}, fetchImpl = fetch) {
  const query = new URLSearchParams();
  if (before !== undefined) query.set("before", String(before));
  if (after !== undefined) query.set("after", String(after));
  if (limit !== undefined) query.set("limit", String(limit));
  const base = httpUrl.replace(/\/+$/, "");
  const url = `${base}/rooms/${encodeURIComponent(room)}/messages?${query}`;
  const response = await fetchImpl(url, {
    headers: { Accept: "application/json", Authorization: `Bearer ${token}` },
  });
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON: reported by status below.
  }
  if (!response.ok) {
    const error = new Error(body?.message ?? `HTTP ${response.status}`);
    error.code = body?.code ?? (response.status === 401 ? "auth" : "http");
    error.status = response.status;
    throw error;
  }
  return {
    room: body?.room ?? room,
    messages: Array.isArray(body?.messages) ? body.messages : [],
    next: typeof body?.next === "string" ? body.next : null,
  };
}

/**
 * One room's messages, ordered by seq, without duplicates.
 *
 * `lastSeq` is the highest seq up to which nothing is missing; a message beyond
 * `lastSeq + 1` means a gap. Until `ready` (the first history page arrived) gaps are not
 * reported: the first page sets where the room's known history starts.
 */
export class RoomLog {
  constructor(room) {
    this.room = room;
    this.messages = [];
    this.ids = new Set();
    this.seqs = new Set();
    this.lastSeq = 0;
    this.ready = false;
  }

  /** Add one message; returns its index in seq order, or -1 for a duplicate. */
  add(message) {
    if (this.ids.has(message.id)) return -1;
    this.ids.add(message.id);
    this.seqs.add(message.seq);
    let index = this.messages.length;
    while (index > 0 && this.messages[index - 1].seq > message.seq) index -= 1;
    this.messages.splice(index, 0, message);
    this.advance();
    return index;
  }

  /** Mark everything up to `seq` as known (the start of what this page shows). */
  markKnown(seq) {
    if (seq > this.lastSeq) this.lastSeq = seq;
    this.advance();
  }

  advance() {
    while (this.seqs.has(this.lastSeq + 1)) this.lastSeq += 1;
  }

  /** True when a seq past `lastSeq` was seen (or the room is known to go further). */
  hasGap(latestSeq = 0) {
    if (!this.ready) return false;
    if (latestSeq > this.lastSeq) return true;
    for (const seq of this.seqs) if (seq > this.lastSeq) return true;
    return false;
  }
}

/**
 * One WebSocket to the chat API that keeps itself open.
 *
 * Events (CustomEvent `detail`): `state` {state, attempt, delayMs}, `open` {reconnected},
 * `server` (one parsed server event), `failed` {reason} when the very first connection could
 * not be made (a wrong URL or a rejected token: retrying would not help) or `getToken` threw an
 * error marked `fatal` (an expired token nobody can renew).
 */
export class ChatConnection extends EventTarget {
  constructor({
    url,
    getToken,
    WebSocketImpl = globalThis.WebSocket,
    baseDelayMs = 500,
    maxDelayMs = 30000,
    pingIntervalMs = 4 * 60 * 1000,
    pongTimeoutMs = 15000,
  }) {
    super();
    this.url = url;
    this.getToken = getToken;
    this.WebSocketImpl = WebSocketImpl;
    this.baseDelayMs = baseDelayMs;
    this.maxDelayMs = maxDelayMs;
    this.pingIntervalMs = pingIntervalMs;
    this.pongTimeoutMs = pongTimeoutMs;
    this.state = STATES.IDLE;
    this.socket = null;
    this.attempt = 0;
    this.everOnline = false;
    this.stopped = true;
    this.retryTimer = null;
    this.pingTimer = null;
    this.pongTimer = null;
    this.onBrowserOnline = () => this.reconnectNow();
    this.onBrowserOffline = () => {
      if (this.state !== STATES.ONLINE) this.setState(STATES.OFFLINE);
    };
  }

  start() {
    this.stopped = false;
    globalThis.addEventListener?.("online", this.onBrowserOnline);
    globalThis.addEventListener?.("offline", this.onBrowserOffline);
    this.open();
  }

  stop() {
    this.stopped = true;
    globalThis.removeEventListener?.("online", this.onBrowserOnline);
    globalThis.removeEventListener?.("offline", this.onBrowserOffline);
    clearTimeout(this.retryTimer);
    this.stopPing();
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      this.detach(socket);
      socket.close(1000, "bye");
    }
    this.setState(STATES.OFFLINE);
  }

  get online() {
    return this.state === STATES.ONLINE;
  }

  /** Send one frame now; false when the socket is not open (the caller decides to queue). */
  send(frame) {
    if (!this.online || !this.socket) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  /** Give up on the current socket and connect again at once (e.g. the browser came online). */
  reconnectNow() {
    if (this.stopped || this.state === STATES.ONLINE) return;
    clearTimeout(this.retryTimer);
    this.attempt = 0;
    this.open();
  }

  setState(state, extra = {}) {
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: { state, attempt: this.attempt, ...extra } }));
  }

  async open() {
    if (this.stopped) return;
    this.setState(this.everOnline ? STATES.RECONNECTING : STATES.CONNECTING);
    let token;
    try {
      token = await this.getToken();
    } catch (error) {
      // A token that can never work again (expired, nobody to renew it) ends the session.
      if (error.fatal) this.giveUp(error.message);
      else this.fail(`could not get a token: ${error.message}`);
      return;
    }
    if (this.stopped) return;
    let socket;
    try {
      socket = new this.WebSocketImpl(socketUrl(this.url, token));
    } catch (error) {
      this.fail(`bad WebSocket URL: ${error.message}`);
      return;
    }
    this.socket = socket;
    let opened = false;
    socket.onopen = () => {
      opened = true;
      const reconnected = this.everOnline;
      this.everOnline = true;
      this.attempt = 0;
      this.setState(STATES.ONLINE);
      this.startPing();
      this.dispatchEvent(new CustomEvent("open", { detail: { reconnected } }));
    };
    socket.onmessage = (event) => this.receive(event.data);
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.stopPing();
      if (!opened && !this.everOnline) {
        this.fail(`the server refused the connection (code ${event.code})`);
        return;
      }
      this.scheduleRetry();
    };
    socket.onerror = () => {
      // A close event always follows; the retry is decided there.
    };
  }

  fail(reason) {
    if (this.everOnline) {
      this.scheduleRetry();
      return;
    }
    this.giveUp(reason);
  }

  giveUp(reason) {
    this.stopped = true;
    this.setState(STATES.OFFLINE);
    this.dispatchEvent(new CustomEvent("failed", { detail: { reason } }));
  }

  scheduleRetry() {
    if (this.stopped) return;
    if (globalThis.navigator && globalThis.navigator.onLine === false) {
      // The `online` event reconnects at once; no point burning attempts meanwhile.
      this.setState(STATES.OFFLINE);
      return;
    }
    const delayMs = backoffDelay(this.attempt, { baseMs: this.baseDelayMs, capMs: this.maxDelayMs });
    this.attempt += 1;
    this.setState(STATES.RECONNECTING, { delayMs });
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.open(), delayMs);
  }

  receive(data) {
    let event;
    try {
      event = JSON.parse(data);
    } catch {
      return;
    }
    if (!event || typeof event !== "object") return;
    if (event.type === "pong") clearTimeout(this.pongTimer);
    this.dispatchEvent(new CustomEvent("server", { detail: event }));
  }

  startPing() {
    this.stopPing();
    this.pingTimer = setInterval(() => this.ping(), this.pingIntervalMs);
  }

  stopPing() {
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
  }

  /** App-level ping: keeps the idle timeout away and notices a socket that died silently. */
  ping() {
    if (!this.send({ action: "ping", ref: newRef("ping") })) return;
    clearTimeout(this.pongTimer);
    this.pongTimer = setTimeout(() => this.drop(), this.pongTimeoutMs);
  }

  /** Abandon the current socket (no pong) and reconnect without waiting for its close. */
  drop() {
    const socket = this.socket;
    if (!socket) return;
    this.socket = null;
    this.stopPing();
    this.detach(socket);
    socket.close(4000, "no pong");
    this.scheduleRetry();
  }

  detach(socket) {
    socket.onopen = null;
    socket.onmessage = null;
    socket.onclose = null;
    socket.onerror = null;
  }
}
