// The chat page: sign-in, rooms, DMs, presence, typing, toasts. Everything from the network is
// put on the page with textContent, never as HTML.

import {
  ChatConnection,
  RoomLog,
  STATES,
  decodeToken,
  dmPeer,
  dmRoom,
  fetchHistoryPage,
  isDm,
  messagesOf,
  newRef,
} from "./chat.js";
import { Attachments } from "./attachments.js";

const HISTORY_PAGE = 50;
const GAP_PAGE = 100;
const TYPING_SEND_EVERY_MS = 3000;
const TYPING_SHOWN_MS = 4000;
const ACK_TIMEOUT_MS = 10000;
const ACK_RETRIES = 3;
const MAX_PENDING = 100;
const TOAST_MS = 8000;
const STORAGE = {
  name: "chat.name",
  url: "chat.url",
  token: "chat.token",
  rooms: (user) => `chat.rooms.${user}`,
};

const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);

const ui = {
  state: $("connection-state"),
  me: $("me"),
  signOut: $("sign-out"),
  signin: $("signin"),
  localForm: $("local-signin-form"),
  localName: $("signin-name"),
  remoteForm: $("remote-signin-form"),
  remoteUrl: $("ws-url"),
  remoteToken: $("ws-token"),
  rememberToken: $("remember-token"),
  chat: $("chat"),
  joinForm: $("join-form"),
  roomInput: $("room-input"),
  roomList: $("room-list"),
  noRooms: $("no-rooms"),
  dmList: $("dm-list"),
  noDms: $("no-dms"),
  title: $("current-room"),
  leave: $("leave-room"),
  messages: $("messages"),
  typing: $("typing-indicator"),
  composer: $("composer"),
  input: $("message-input"),
  sendButton: $("send-button"),
  presence: $("presence-list"),
  peopleHint: $("people-hint"),
  toasts: $("toasts"),
};

// Files: attach button, drop, paste, upload progress, chips and previews (attachments.js).
const files = new Attachments({ composer: ui.composer, input: ui.input, toast });

const STATE_LABELS = {
  [STATES.IDLE]: "offline",
  [STATES.CONNECTING]: "connecting…",
  [STATES.ONLINE]: "online",
  [STATES.RECONNECTING]: "reconnecting…",
  [STATES.OFFLINE]: "offline",
};

let session = null; // {me: {id, name}, connection}
let conversations = new Map(); // room -> conversation
let current = null; // the conversation on screen
let pending = new Map(); // ref -> an unacknowledged send
let requests = new Map(); // ref -> {kind, room, ...} for join/history/who replies
let lastTypingSent = 0;
const names = new Map(); // user id -> display name
const seenNotifications = new Set();

// ---------------------------------------------------------------------------- sign-in

function storageGet(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function storageSet(key, value) {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    // Private windows may refuse storage; the page works without it.
  }
}

async function fetchJson(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`${path} answered ${response.status}`);
  return response.json();
}

/** A user id the server accepts (letters, digits, . _ @ + | -), made from a display name. */
function userIdFor(name) {
  return name
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9._@+|-]+/g, "-")
    .replace(/^[^a-z0-9]+/, "")
    .slice(0, 128);
}

/** The stack's HTTP API, when /_local/config names one (same loopback rule as the socket). */
function httpUrlFromConfig(config) {
  if (typeof config.httpUrl !== "string" || !config.httpUrl) return null;
  const target = new URL(config.httpUrl);
  const loopback = ["127.0.0.1", "localhost", "[::1]"];
  if (loopback.includes(target.hostname) && !loopback.includes(location.hostname)) {
    target.hostname = location.hostname;
  }
  return target.toString();
}

function socketUrlFromConfig(config) {
  const url = config.ws_url ?? config.websocket_url ?? config.wsUrl ?? config.url;
  if (typeof url !== "string" || !url) throw new Error("/_local/config has no WebSocket URL");
  // A stack listening on every interface still names 127.0.0.1; a browser on another machine
  // must use the host it loaded this page from.
  const target = new URL(url);
  const loopback = ["127.0.0.1", "localhost", "[::1]"];
  if (loopback.includes(target.hostname) && !loopback.includes(location.hostname)) {
    target.hostname = location.hostname;
  }
  return target.toString();
}

async function localToken(user, name) {
  const query = new URLSearchParams({ user, name });
  const reply = await fetchJson(`/_local/token?${query}`);
  const token = typeof reply === "string" ? reply : reply.token;
  if (typeof token !== "string" || !token) throw new Error("/_local/token gave no token");
  return token;
}

function expired(token) {
  const claims = decodeToken(token);
  return Boolean(claims && typeof claims.exp === "number" && claims.exp * 1000 <= Date.now());
}

function expiresSoon(token) {
  const claims = decodeToken(token);
  return Boolean(claims && typeof claims.exp === "number" && claims.exp * 1000 - Date.now() < 60000);
}

ui.localForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = ui.localName.value.trim();
  const user = userIdFor(name);
  if (!user) {
    toast("error", "Sign-in", "Use at least one letter or digit in your name.");
    return;
  }
  storageSet(STORAGE.name, name);
  ui.localForm.querySelector("button").disabled = true;
  try {
    const [config, token] = await Promise.all([
      fetchJson("/_local/config"),
      localToken(user, name),
    ]);
    let latest = token;
    const getToken = async () => {
      if (expiresSoon(latest)) latest = await localToken(user, name);
      return latest;
    };
    const httpUrl = httpUrlFromConfig(config);
    // Files go through the same HTTP API: the attach button shows once it is known.
    files.configure({ apiUrl: httpUrl, getToken, limits: config.attachments });
    startSession({ url: socketUrlFromConfig(config), token, getToken, httpUrl });
  } catch (error) {
    toast("error", "Sign-in failed", `${error.message}. Is the local stack running (make run)?`);
  } finally {
    ui.localForm.querySelector("button").disabled = false;
  }
});

ui.remoteForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const url = ui.remoteUrl.value.trim();
  const token = ui.remoteToken.value.trim();
  if (!/^wss?:\/\//i.test(url)) {
    toast("error", "Sign-in", "The WebSocket URL starts with wss:// (or ws://).");
    return;
  }
  if (!decodeToken(token)) {
    toast("error", "Sign-in", "That token is not a JWT.");
    return;
  }
  storageSet(STORAGE.url, url);
  storageSet(STORAGE.token, ui.rememberToken.checked ? token : null);
  const getToken = async () => {
    if (expired(token)) {
      const error = new Error("the token has expired; sign in with a new one");
      error.fatal = true;
      throw error;
    }
    return token;
  };
  startSession({ url, token, getToken });
});

ui.signOut.addEventListener("click", () => endSession());

function prefillForms() {
  ui.localName.value = storageGet(STORAGE.name) ?? "";
  ui.remoteUrl.value = storageGet(STORAGE.url) ?? "";
  const token = storageGet(STORAGE.token);
  if (token) {
    ui.remoteToken.value = token;
    ui.rememberToken.checked = true;
  }
}

function startSession({ url, token, getToken, httpUrl = null }) {
  const claims = decodeToken(token) ?? {};
  const me = { id: String(claims.sub ?? ""), name: String(claims.name ?? claims.sub ?? "me") };
  names.set(me.id, me.name);
  const connection = new ChatConnection({ url, getToken });
  const roles = Array.isArray(claims.roles) ? claims.roles : [];
  session = {
    me,
    connection,
    httpUrl,
    getToken: getToken ?? (async () => token),
    moderator: roles.includes("moderator"),
  };
  connection.addEventListener("state", (event) => showState(event.detail));
  connection.addEventListener("open", (event) => onOpen(event.detail));
  connection.addEventListener("server", (event) => onServerEvent(event.detail));
  connection.addEventListener("failed", (event) => {
    toast("error", "Could not connect", event.detail.reason);
    endSession();
  });
  ui.me.textContent = me.name;
  ui.me.title = `signed in as ${me.id}`;
  ui.me.hidden = false;
  ui.signOut.hidden = false;
  ui.signin.hidden = true;
  ui.chat.hidden = false;
  for (const room of rememberedRooms()) openRoom(room, { focus: false });
  renderAll();
  connection.start();
  ui.roomInput.focus();
}

function endSession() {
  if (session) session.connection.stop();
  session = null;
  for (const conversation of conversations.values()) clearTypingTimers(conversation);
  conversations = new Map();
  current = null;
  pending = new Map();
  requests = new Map();
  ui.messages.replaceChildren();
  ui.me.hidden = true;
  ui.signOut.hidden = true;
  ui.chat.hidden = true;
  ui.signin.hidden = false;
  showState({ state: STATES.OFFLINE });
  renderAll();
}

function rememberedRooms() {
  try {
    const rooms = JSON.parse(storageGet(STORAGE.rooms(session.me.id)) ?? "[]");
    return Array.isArray(rooms) ? rooms.filter((room) => typeof room === "string") : [];
  } catch {
    return [];
  }
}

function rememberRooms() {
  const rooms = [...conversations.values()].filter((c) => !c.dm).map((c) => c.room);
  storageSet(STORAGE.rooms(session.me.id), JSON.stringify(rooms));
}

// ---------------------------------------------------------------------------- protocol

function send(frame) {
  return session?.connection.send(frame) ?? false;
}

function request(frame, info) {
  const ref = newRef(frame.action);
  requests.set(ref, { ...info, room: frame.room });
  if (!send({ ...frame, ref })) requests.delete(ref);
}

function onOpen({ reconnected }) {
  for (const conversation of conversations.values()) {
    if (conversation.dm) {
      if (reconnected && conversation.log.ready) fillGap(conversation);
      else if (!conversation.log.ready) loadHistory(conversation);
    } else {
      conversation.joined = false;
      request({ action: "join", room: conversation.room }, { kind: "join" });
    }
  }
  // What waited (typed while offline, or never acknowledged on the old socket) goes again with
  // the same ref, which the server stores once. DMs need no join; rooms wait for `joined`.
  renderConversationList();
  for (const item of pending.values()) item.inFlight = false;
  for (const conversation of conversations.values()) {
    if (conversation.dm) pumpOutbox(conversation);
  }
}

/**
 * Send the conversation's oldest waiting message, one at a time: the server numbers messages in
 * the order it stores them, and concurrent sends could be stored out of the order typed.
 */
function pumpOutbox(conversation) {
  if (!canSend(conversation)) return;
  for (const [ref, item] of pending) {
    if (item.room !== conversation.room) continue;
    if (!item.inFlight) {
      item.inFlight = true;
      item.sentAt = Date.now();
      send({ ...item.frame, ref });
    }
    return;
  }
}

/** A room send before its `join` is done would be refused (not_member): it waits. */
function canSend(conversation) {
  return Boolean(session?.connection.online) && (conversation.dm || conversation.joined);
}

function onServerEvent(event) {
  switch (event.type) {
    case "message":
    case "messages":
      // A `messages` frame holds several messages of one room: each goes the way one alone would.
      for (const message of messagesOf(event)) onMessage(message);
      break;
    case "ack":
      onAck(event);
      break;
    case "joined":
      onJoined(event);
      break;
    case "left":
      break;
    case "history":
      onHistory(event);
      break;
    case "presence":
      onPresence(event);
      break;
    case "typing":
      onTyping(event);
      break;
    case "notification":
      onNotification(event);
      break;
    case "error":
      onError(event);
      break;
    case "message_updated":
    case "message_deleted":
    case "reaction":
      onChange(event);
      break;
    case "kicked":
    case "banned":
      onRemoved(event);
      break;
    case "reauth_required":
      onReauthRequired();
      break;
    default:
      // Replies with nothing to show (edited, deleted, reacted, moderated, reauthed): the
      // change itself arrives through the stream like everyone else's.
      if (typeof event.ref === "string") requests.delete(event.ref);
      break;
  }
}

// ---- edits, deletes, reactions, moderation, token lifetime -----------------------------------

const EMOJI = ["👍", "❤️", "😂", "🎉", "😮", "👀"];

/** A change to a message this page may show: applied in place (history shows the same state). */
function onChange(event) {
  const conversation = conversations.get(event.room);
  if (!conversation) return;
  const stored = conversation.log.messages.find((m) => m.id === event.id);
  if (!stored) return; // not shown yet: history will bring the current state
  if (event.type === "message_updated") {
    if ((stored.version ?? 0) >= event.version) return;
    Object.assign(stored, { text: event.text, version: event.version, edited_ts: event.edited_ts });
  } else if (event.type === "message_deleted") {
    Object.assign(stored, { deleted: true, text: "", reactions: {} });
  } else {
    stored.reactions = { ...(stored.reactions ?? {}) };
    if (event.count > 0) stored.reactions[event.emoji] = event.count;
    else delete stored.reactions[event.emoji];
  }
  refreshMessage(conversation, stored);
}

function refreshMessage(conversation, message) {
  const old = conversation.list.querySelector(`[data-id="${CSS.escape(message.id)}"]`);
  if (old) old.replaceWith(messageElement(message));
}

function onRemoved({ type, room, by }) {
  const conversation = conversations.get(room);
  if (conversation) {
    conversation.joined = false;
    renderConversationList();
  }
  const verb = type === "kicked" ? "removed you from" : "banned you from";
  toast("error", type === "kicked" ? "Removed from a room" : "Banned", `${by} ${verb} ${room}.`);
}

/** The token ends soon: extend the connection with a fresh one (else it closes and reconnects). */
async function onReauthRequired() {
  if (!session) return;
  try {
    const token = await session.getToken();
    if (token) request({ action: "reauth", token }, { kind: "reauth" });
  } catch {
    // No fresh token: the server closes the socket at exp and the connection starts over.
  }
}

function messageActions(message, own) {
  const bar = document.createElement("div");
  bar.className = "message-actions";
  const room = conversationOfMessage(message);
  for (const emoji of EMOJI) {
    bar.append(actionButton(emoji, `React ${emoji}`, "react", () => toggleReaction(message, emoji)));
  }
  if (own) {
    bar.append(actionButton("Edit", "Edit this message", "edit", () => editMessage(message)));
  }
  if (own || session?.moderator) {
    bar.append(
      actionButton("Delete", "Delete this message", "delete", () => {
        if (confirm("Delete this message?")) request({ action: "delete", room, id: message.id }, {});
      }),
    );
  }
  return bar;
}

function actionButton(label, title, testid, onClick) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "message-action";
  button.dataset.testid = `message-${testid}`;
  button.textContent = label;
  button.title = title;
  button.addEventListener("click", onClick);
  return button;
}

function conversationOfMessage(message) {
  return String(message.room ?? current?.room ?? "");
}

function toggleReaction(message, emoji) {
  const mine = (message.myReactions ??= new Set());
  const action = mine.has(emoji) ? "unreact" : "react";
  if (action === "react") mine.add(emoji);
  else mine.delete(emoji);
  request({ action, room: conversationOfMessage(message), id: message.id, emoji }, {});
}

function editMessage(message) {
  const text = prompt("Edit your message", message.text ?? "");
  if (text === null || !text.trim() || text === message.text) return;
  request({ action: "edit", room: conversationOfMessage(message), id: message.id, text }, {});
}

function reactionsElement(reactions) {
  const row = document.createElement("div");
  row.className = "reactions";
  row.dataset.testid = "message-reactions";
  for (const [emoji, count] of Object.entries(reactions ?? {})) {
    if (!(count > 0)) continue;
    const chip = document.createElement("span");
    chip.className = "reaction";
    chip.textContent = `${emoji} ${count}`;
    row.append(chip);
  }
  return row;
}

function moderate(action, userId) {
  if (!current || current.dm) return;
  if (action === "ban" && !confirm(`Ban ${displayName(userId)} from ${current.room}?`)) return;
  request({ action, room: current.room, user: userId }, {});
}

function onJoined({ room, seq, ref, unread }) {
  requests.delete(ref);
  const conversation = conversations.get(room);
  if (!conversation) return;
  conversation.joined = true;
  conversation.latestSeq = Math.max(conversation.latestSeq, Number(seq) || 0);
  // The server's count (read markers); the page marks read what it shows (markRead).
  if (conversation !== current && Number(unread) > 0) conversation.unread = Number(unread);
  if (conversation === current) markRead(conversation);
  request({ action: "who", room }, { kind: "who" });
  pumpOutbox(conversation);
  if (!conversation.log.ready) loadHistory(conversation);
  else if (conversation.log.hasGap(conversation.latestSeq)) fillGap(conversation);
  renderConversationList();
}

/** The latest page of a conversation: up to the seq `joined` reported when there is one. */
function loadHistory(conversation) {
  if (conversation.joined && conversation.latestSeq === 0) {
    conversation.log.ready = true; // an empty room: nothing to load
    return;
  }
  const frame = { action: "history", room: conversation.room, limit: HISTORY_PAGE };
  if (conversation.latestSeq > 0) frame.before = conversation.latestSeq + 1;
  conversation.filling = true;
  request(frame, { kind: "initial", known: conversation.latestSeq });
}

/** Everything after `lastSeq`: what a dropped connection or a lost event left out. */
function fillGap(conversation) {
  if (conversation.filling) return;
  conversation.filling = true;
  request(
    { action: "history", room: conversation.room, after: conversation.log.lastSeq, limit: GAP_PAGE },
    { kind: "gap", from: conversation.log.lastSeq },
  );
}

function onHistory({ room, messages, ref }) {
  const info = requests.get(ref);
  requests.delete(ref);
  const conversation = conversations.get(room);
  if (!conversation) return;
  const list = Array.isArray(messages) ? messages : [];
  if (info?.kind === "earlier") {
    showEarlier(conversation, list);
    return;
  }
  for (const message of list) addMessage(conversation, message);
  const log = conversation.log;
  conversation.filling = false;
  if (conversation === current) markReadSoon(conversation);
  if (info?.kind === "initial") {
    log.ready = true;
    const newest = list.reduce((high, m) => Math.max(high, Number(m.seq) || 0), 0);
    log.markKnown(Math.max(info.known ?? 0, newest));
  } else if (info?.kind === "gap" && log.lastSeq === info.from) {
    // No progress: whatever is missing is gone (retention); stop asking for it.
    const newest = Math.max(conversation.latestSeq, ...log.seqs);
    log.markKnown(newest);
  }
  if (log.hasGap(conversation.latestSeq)) fillGap(conversation);
  renderMessagesIfCurrent(conversation);
  updateEarlier(conversation);
}

/** Scrollback: the page before the oldest message shown, keeping the view where it was. */
function loadEarlier(conversation) {
  const oldest = conversation.log.messages[0];
  if (!oldest || conversation.earlier.disabled) return;
  conversation.earlier.disabled = true;
  if (session?.httpUrl) {
    loadEarlierOverHttp(conversation, oldest.seq);
    return;
  }
  request(
    { action: "history", room: conversation.room, before: oldest.seq, limit: HISTORY_PAGE },
    { kind: "earlier" },
  );
}

/** Scrollback over the HTTP API: no frame on the socket, the same page as `history`. */
async function loadEarlierOverHttp(conversation, before) {
  try {
    const token = await session.getToken();
    const page = await fetchHistoryPage(session.httpUrl, token, conversation.room, {
      before,
      limit: HISTORY_PAGE,
    });
    showEarlier(conversation, page.messages);
  } catch {
    // The socket still works: fall back to it rather than leave the button dead.
    request(
      { action: "history", room: conversation.room, before, limit: HISTORY_PAGE },
      { kind: "earlier" },
    );
  }
}

function showEarlier(conversation, messages) {
  const fromBottom = ui.messages.scrollHeight - ui.messages.scrollTop;
  for (const message of messages) addMessage(conversation, message);
  if (conversation === current) ui.messages.scrollTop = ui.messages.scrollHeight - fromBottom;
  // Nothing older came back: the rest is past the retention period.
  if (messages.length === 0) conversation.noEarlier = true;
  conversation.earlier.disabled = false;
  updateEarlier(conversation);
}

function updateEarlier(conversation) {
  const oldest = conversation.log.messages[0];
  conversation.earlier.hidden =
    !conversation.log.ready || conversation.noEarlier || !oldest || oldest.seq <= 1;
}

function conversationFor(room) {
  let conversation = conversations.get(room);
  if (!conversation && isDm(room) && session) {
    conversation = newConversation(room);
    loadHistory(conversation);
    renderConversationList();
  }
  return conversation;
}

function onMessage(message) {
  if (typeof message.room !== "string" || typeof message.id !== "string") return;
  const conversation = conversationFor(message.room);
  if (!conversation) return;
  rememberName(message.from, message.name);
  const added = addMessage(conversation, message);
  if (!added) return;
  stopTyping(conversation, message.from);
  if (conversation !== current && message.from !== session.me.id) {
    conversation.unread += 1;
    renderConversationList();
  }
  if (conversation.log.hasGap(conversation.latestSeq)) fillGap(conversation);
  if (conversation === current) markReadSoon(conversation);
}

let readTimer = null;

/** At most one `read` every two seconds while messages keep arriving in the open room. */
function markReadSoon(conversation) {
  if (readTimer !== null) return;
  readTimer = setTimeout(() => {
    readTimer = null;
    if (conversation === current) markRead(conversation);
  }, 2000);
}

function onAck({ ref, id, room, seq }) {
  const item = pending.get(ref);
  if (!item) return;
  pending.delete(ref);
  item.element.remove();
  const conversation = conversations.get(room) ?? conversations.get(item.room);
  if (!conversation) return;
  pumpOutbox(conversation);
  addMessage(conversation, {
    type: "message",
    id,
    room,
    seq,
    from: session.me.id,
    name: session.me.name,
    text: item.frame.text,
    ts: Date.now(),
  });
  if (conversation.log.hasGap(conversation.latestSeq)) fillGap(conversation);
}

function onPresence({ room, users, event, user }) {
  const conversation = conversations.get(room);
  if (!conversation || conversation.dm) return;
  if (Array.isArray(users)) {
    conversation.people = new Map();
    for (const person of users) {
      conversation.people.set(person.id, person.name ?? person.id);
      rememberName(person.id, person.name);
    }
  } else if (user && typeof user.id === "string") {
    rememberName(user.id, user.name);
    if (event === "join") conversation.people.set(user.id, user.name ?? user.id);
    if (event === "leave") {
      conversation.people.delete(user.id);
      stopTyping(conversation, user.id);
      // The same user may still be here from another tab or device: ask who is really here.
      request({ action: "who", room }, { kind: "who" });
    }
  }
  if (conversation === current) renderPresence();
}

function onTyping({ room, from, name }) {
  if (!session || from === session.me.id) return;
  const conversation = conversations.get(room);
  if (!conversation) return;
  rememberName(from, name);
  const previous = conversation.typing.get(from);
  if (previous) clearTimeout(previous.timer);
  const timer = setTimeout(() => stopTyping(conversation, from), TYPING_SHOWN_MS);
  conversation.typing.set(from, { name: name ?? from, timer });
  if (conversation === current) renderTyping();
}

function onNotification({ id, payload }) {
  if (id && seenNotifications.has(id)) return;
  if (id) seenNotifications.add(id);
  toast("notification", notificationTitle(payload), notificationText(payload));
}

function notificationTitle(payload) {
  if (payload && typeof payload === "object" && typeof payload.title === "string") {
    return payload.title;
  }
  return "Notification";
}

function notificationText(payload) {
  if (typeof payload === "string") return payload;
  if (payload && typeof payload === "object") {
    for (const key of ["text", "message", "body"]) {
      if (typeof payload[key] === "string") return payload[key];
    }
  }
  return JSON.stringify(payload);
}

function onError({ code, message, ref }) {
  const info = requests.get(ref);
  requests.delete(ref);
  // A room nobody has written in yet has no history: nothing to tell the user.
  const quiet = code === "not_found" && (info?.kind === "initial" || info?.kind === "gap");
  if (!quiet) toast("error", `Error ${code ?? "unknown"}`, message ?? "");
  const item = pending.get(ref);
  if (item) {
    pending.delete(ref);
    markFailed(item, code);
    const conversation = conversations.get(item.room);
    if (conversation) pumpOutbox(conversation);
  }
  if (!info) return;
  const conversation = conversations.get(info.room);
  if (!conversation) return;
  if (info.kind === "join" && !conversation.joined) {
    // The server would not let us in (e.g. a private room the token does not grant).
    removeConversation(conversation);
  } else if (info.kind === "initial" || info.kind === "gap") {
    conversation.filling = false;
    conversation.log.ready = true;
  } else if (info.kind === "earlier") {
    conversation.earlier.disabled = false;
  }
}

// ---------------------------------------------------------------------------- conversations

function newConversation(room) {
  const container = document.createElement("div");
  container.className = "message-pane";
  const list = document.createElement("ol");
  list.className = "message-list";
  const outbox = document.createElement("ol");
  outbox.className = "message-list outbox";
  const earlier = document.createElement("button");
  earlier.type = "button";
  earlier.className = "link load-earlier";
  earlier.dataset.testid = "load-earlier";
  earlier.textContent = "Load earlier messages";
  earlier.hidden = true;
  container.append(earlier, list, outbox);
  const conversation = {
    room,
    dm: isDm(room),
    peer: isDm(room) && session ? dmPeer(room, session.me.id) : null,
    log: new RoomLog(room),
    latestSeq: 0,
    joined: false,
    filling: false,
    unread: 0,
    people: new Map(),
    typing: new Map(),
    container,
    list,
    outbox,
    earlier,
    noEarlier: false,
    atBottom: true,
  };
  earlier.addEventListener("click", () => loadEarlier(conversation));
  conversations.set(room, conversation);
  return conversation;
}

function openRoom(room, { focus = true } = {}) {
  let conversation = conversations.get(room);
  if (!conversation) {
    conversation = newConversation(room);
    rememberRooms();
    if (session?.connection.online) {
      request({ action: "join", room }, { kind: "join" });
    }
  }
  if (focus || !current) select(conversation);
  renderConversationList();
}

function openDm(userId) {
  if (!session || userId === session.me.id) return;
  const room = dmRoom(session.me.id, userId);
  let conversation = conversations.get(room);
  if (!conversation) {
    conversation = newConversation(room);
    if (session.connection.online) loadHistory(conversation);
  }
  select(conversation);
  renderConversationList();
  ui.input.focus();
}

function removeConversation(conversation) {
  clearTypingTimers(conversation);
  conversations.delete(conversation.room);
  for (const [ref, item] of pending) {
    if (item.room === conversation.room) pending.delete(ref);
  }
  if (!conversation.dm) rememberRooms();
  if (current === conversation) {
    current = null;
    const next = conversations.values().next().value;
    if (next) select(next);
    else renderAll();
  }
  renderConversationList();
}

ui.joinForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const room = ui.roomInput.value.trim();
  if (!room) return;
  if (isDm(room)) {
    toast("error", "Join", "Direct messages open from the people list.");
    return;
  }
  ui.roomInput.value = "";
  openRoom(room);
  ui.input.focus();
});

ui.leave.addEventListener("click", () => {
  if (!current || current.dm) return;
  const conversation = current;
  if (conversation.joined) send({ action: "leave", room: conversation.room, ref: newRef("leave") });
  removeConversation(conversation);
});

/** Move the server's read marker to what this conversation shows. */
function markRead(conversation) {
  if (conversation.dm || !conversation.joined) return;
  const seq = conversation.log.lastSeq;
  if (seq > 0 && seq > (conversation.readSeq ?? 0)) {
    conversation.readSeq = seq;
    send({ action: "read", room: conversation.room, seq });
  }
}

function select(conversation) {
  if (current) current.atBottom = isAtBottom();
  current = conversation;
  files.setRoom(conversation.room);
  conversation.unread = 0;
  lastTypingSent = 0;
  markRead(conversation);
  renderAll();
  if (conversation.atBottom) scrollToBottom();
}

// ---------------------------------------------------------------------------- messages

function addMessage(conversation, message) {
  if (typeof message.id !== "string" || !Number.isFinite(Number(message.seq))) return false;
  const normalized = { ...message, seq: Number(message.seq) };
  const index = conversation.log.add(normalized);
  if (index < 0) return false;
  const stick = conversation === current && isAtBottom();
  const element = messageElement(normalized);
  conversation.list.insertBefore(element, conversation.list.children[index] ?? null);
  if (stick) scrollToBottom();
  return true;
}

function messageElement(message) {
  const own = Boolean(session) && message.from === session.me.id;
  const item = document.createElement("li");
  item.className = own ? "message own" : "message";
  item.dataset.testid = "message";
  item.dataset.id = message.id;
  item.dataset.seq = String(message.seq);
  item.dataset.from = String(message.from ?? "");
  item.dataset.own = String(own);
  if (message.deleted) {
    // A tombstone: its seq stays, its text is gone.
    item.classList.add("deleted");
    item.dataset.deleted = "true";
    const gone = document.createElement("p");
    gone.className = "text tombstone";
    gone.dataset.testid = "message-deleted";
    gone.textContent = "message deleted";
    item.append(gone);
    return item;
  }
  const meta = messageMeta(message.name ?? message.from ?? "?", own, message.ts);
  if (message.version > 0) {
    const mark = document.createElement("span");
    mark.className = "edited";
    mark.dataset.testid = "message-edited";
    mark.textContent = "edited";
    meta.append(mark);
  }
  item.append(meta, messageText(message.text));
  if (Array.isArray(message.attachments) && message.attachments.length) {
    item.append(files.render(message.attachments));
  }
  item.append(reactionsElement(message.reactions));
  item.append(messageActions(message, own));
  return item;
}

function messageMeta(name, own, ts) {
  const meta = document.createElement("div");
  meta.className = "meta";
  const author = document.createElement("span");
  author.className = "author";
  author.dataset.testid = "message-author";
  author.textContent = String(name);
  meta.append(author);
  if (own) {
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = "you";
    meta.append(badge);
  }
  const time = document.createElement("time");
  const date = Number.isFinite(Number(ts)) ? new Date(Number(ts)) : null;
  if (date) {
    time.dateTime = date.toISOString();
    time.textContent = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    time.title = date.toLocaleString();
  }
  meta.append(time);
  return meta;
}

function messageText(text) {
  const body = document.createElement("p");
  body.className = "text";
  body.dataset.testid = "message-text";
  body.textContent = String(text ?? "");
  return body;
}

function markFailed(item, code) {
  item.element.classList.add("failed");
  item.element.dataset.state = "failed";
  item.status.textContent = `not sent (${code ?? "error"})`;
}

ui.composer.addEventListener("submit", (event) => {
  event.preventDefault();
  sendCurrent();
});

ui.input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    sendCurrent();
  }
});

ui.input.addEventListener("input", () => {
  autosize();
  if (!current || current.dm || !current.joined || !ui.input.value.trim()) return;
  const now = Date.now();
  if (now - lastTypingSent < TYPING_SEND_EVERY_MS) return;
  if (send({ action: "typing", room: current.room })) lastTypingSent = now;
});

function sendCurrent() {
  if (!current || !session) return;
  const text = ui.input.value.replace(/\s+$/, "");
  if (files.busy) {
    toast("info", "Not sent yet", "Wait for the files to finish uploading.");
    return;
  }
  if (!text.trim() && !files.items.some((item) => item.done)) return;
  if (pending.size >= MAX_PENDING) {
    toast("error", "Not sent", "Too many messages are waiting for the connection.");
    return;
  }
  const ref = newRef("send");
  const frame = current.dm
    ? { action: "dm", to: current.peer, text }
    : { action: "send", room: current.room, text };
  const attached = files.take();
  if (attached.length) frame.attachments = attached;
  const { element, status } = pendingElement(text);
  current.outbox.append(element);
  const item = { frame, room: current.room, element, status, sentAt: 0, tries: 0, inFlight: false };
  pending.set(ref, item);
  pumpOutbox(current);
  ui.input.value = "";
  autosize();
  lastTypingSent = 0;
  scrollToBottom();
}

function pendingElement(text) {
  const element = document.createElement("li");
  element.className = "message own pending";
  element.dataset.testid = "pending-message";
  element.dataset.own = "true";
  element.append(messageMeta(session.me.name, true, Date.now()), messageText(text));
  const status = document.createElement("span");
  status.className = "status";
  status.textContent = "sending…";
  element.querySelector(".meta").append(status);
  return { element, status };
}

// A send whose ack never came while online is sent again with the same ref (idempotent).
setInterval(() => {
  if (!session?.connection.online) return;
  const now = Date.now();
  for (const [ref, item] of pending) {
    const conversation = conversations.get(item.room);
    if (!conversation || !item.inFlight || now - item.sentAt < ACK_TIMEOUT_MS) continue;
    if (item.tries >= ACK_RETRIES) {
      pending.delete(ref);
      markFailed(item, "timeout");
      pumpOutbox(conversation);
      continue;
    }
    item.tries += 1;
    item.sentAt = now;
    send({ ...item.frame, ref });
  }
}, 1000);

// ---------------------------------------------------------------------------- typing

function stopTyping(conversation, userId) {
  const entry = conversation.typing.get(userId);
  if (!entry) return;
  clearTimeout(entry.timer);
  conversation.typing.delete(userId);
  if (conversation === current) renderTyping();
}

function clearTypingTimers(conversation) {
  for (const entry of conversation.typing.values()) clearTimeout(entry.timer);
  conversation.typing.clear();
}

// ---------------------------------------------------------------------------- rendering

function rememberName(id, name) {
  if (typeof id === "string" && typeof name === "string" && name) names.set(id, name);
}

function displayName(id) {
  return names.get(id) ?? id;
}

function conversationLabel(conversation) {
  return conversation.dm ? displayName(conversation.peer) : conversation.room;
}

function showState({ state, delayMs }) {
  ui.state.dataset.state = state;
  let label = STATE_LABELS[state] ?? state;
  if (state === STATES.RECONNECTING && delayMs > 1000) {
    label = `reconnecting in ${Math.round(delayMs / 1000)}s…`;
  }
  ui.state.textContent = label;
}

function renderAll() {
  renderConversationList();
  renderConversation();
  renderPresence();
  renderTyping();
}

function renderConversationList() {
  const rooms = [];
  const dms = [];
  for (const conversation of conversations.values()) {
    (conversation.dm ? dms : rooms).push(conversationItem(conversation));
  }
  ui.roomList.replaceChildren(...rooms);
  ui.dmList.replaceChildren(...dms);
  ui.noRooms.hidden = rooms.length > 0;
  ui.noDms.hidden = dms.length > 0;
}

function conversationItem(conversation) {
  const item = document.createElement("li");
  const button = document.createElement("button");
  button.type = "button";
  button.className = "conversation-button";
  button.dataset.testid = conversation.dm ? "dm-item" : "room-item";
  button.dataset.room = conversation.room;
  if (conversation.dm) button.dataset.user = conversation.peer;
  if (conversation === current) button.setAttribute("aria-current", "true");
  const label = document.createElement("span");
  label.className = "label";
  label.textContent = (conversation.dm ? "@ " : "# ") + conversationLabel(conversation);
  button.append(label);
  if (!conversation.dm) {
    button.dataset.joined = String(conversation.joined);
    if (!conversation.joined) button.classList.add("not-joined");
  }
  if (conversation.unread > 0) {
    const badge = document.createElement("span");
    badge.className = "unread";
    badge.dataset.testid = "unread";
    badge.textContent = String(conversation.unread);
    badge.setAttribute("aria-label", `${conversation.unread} unread`);
    button.append(badge);
  }
  button.addEventListener("click", () => {
    select(conversation);
    ui.input.focus();
  });
  item.append(button);
  return item;
}

function renderConversation() {
  if (!current) {
    ui.title.textContent = "No conversation";
    ui.leave.hidden = true;
    ui.messages.replaceChildren();
    ui.input.disabled = true;
    ui.input.placeholder = "Join a room to write";
    ui.sendButton.disabled = true;
    return;
  }
  ui.input.placeholder = current.dm
    ? `Message ${displayName(current.peer)}`
    : `Message # ${current.room}`;
  ui.title.textContent = current.dm
    ? `Direct messages with ${displayName(current.peer)}`
    : `# ${current.room}`;
  ui.title.dataset.room = current.room;
  ui.leave.hidden = current.dm;
  if (ui.messages.firstChild !== current.container) ui.messages.replaceChildren(current.container);
  ui.input.disabled = false;
  ui.sendButton.disabled = false;
}

function renderMessagesIfCurrent(conversation) {
  if (conversation === current && conversation.atBottom) scrollToBottom();
}

function renderPresence() {
  if (!current || current.dm || !session) {
    ui.presence.replaceChildren();
    ui.peopleHint.textContent = current?.dm
      ? `Only you and ${displayName(current.peer)} see this conversation.`
      : "Join a room to see who is there.";
    return;
  }
  ui.peopleHint.textContent = "Select someone to message them directly.";
  const people = [...current.people.entries()].sort((a, b) =>
    a[1].localeCompare(b[1], undefined, { sensitivity: "base" }),
  );
  ui.presence.replaceChildren(
    ...people.map(([id, name]) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "person";
      button.dataset.testid = "presence-user";
      button.dataset.user = id;
      button.textContent = name;
      button.title = id;
      if (id === session.me.id) {
        button.disabled = true;
        button.classList.add("self");
        const badge = document.createElement("span");
        badge.className = "badge";
        badge.textContent = "you";
        button.append(" ", badge);
      } else {
        button.setAttribute("aria-label", `Message ${name} directly`);
        button.addEventListener("click", () => openDm(id));
      }
      item.append(button);
      if (session.moderator && id !== session.me.id) {
        for (const action of ["kick", "ban"]) {
          const tool = document.createElement("button");
          tool.type = "button";
          tool.className = "person-action";
          tool.dataset.testid = `person-${action}`;
          tool.textContent = action === "kick" ? "Kick" : "Ban";
          tool.title = `${action === "kick" ? "Remove" : "Ban"} ${name} from this room`;
          tool.addEventListener("click", () => moderate(action, id));
          item.append(tool);
        }
      }
      return item;
    }),
  );
}

function renderTyping() {
  const typers = current ? [...current.typing.values()].map((entry) => entry.name) : [];
  if (typers.length === 0) ui.typing.textContent = "";
  else if (typers.length === 1) ui.typing.textContent = `${typers[0]} is typing…`;
  else if (typers.length === 2) ui.typing.textContent = `${typers[0]} and ${typers[1]} are typing…`;
  else ui.typing.textContent = "Several people are typing…";
}

function isAtBottom() {
  const el = ui.messages;
  return el.scrollHeight - el.scrollTop - el.clientHeight < 40;
}

function scrollToBottom() {
  ui.messages.scrollTop = ui.messages.scrollHeight;
}

function autosize() {
  ui.input.style.height = "auto";
  ui.input.style.height = `${Math.min(ui.input.scrollHeight, 160)}px`;
}

// ---------------------------------------------------------------------------- toasts

function toast(kind, title, text) {
  const element = document.createElement("div");
  element.className = `toast ${kind}`;
  element.dataset.testid = "toast";
  element.dataset.kind = kind;
  element.setAttribute("role", kind === "error" ? "alert" : "status");
  const heading = document.createElement("strong");
  heading.textContent = title;
  const body = document.createElement("p");
  body.textContent = text;
  const close = document.createElement("button");
  close.type = "button";
  close.className = "close";
  close.setAttribute("aria-label", "Dismiss");
  close.textContent = "×";
  close.addEventListener("click", () => element.remove());
  element.append(heading, body, close);
  ui.toasts.append(element);
  setTimeout(() => element.remove(), kind === "error" ? TOAST_MS * 1.5 : TOAST_MS);
}

// ---------------------------------------------------------------------------- start

async function detectLocalStack() {
  let config = null;
  try {
    config = await fetchJson("/_local/config");
  } catch {
    // Served from somewhere else than the local stack (or opened as a file).
  }
  if (config && config.devTokens !== false) return;
  ui.localForm.classList.add("unavailable");
  ui.localForm.querySelector(".hint").textContent = config
    ? "This local stack mints no development tokens; use the form beside this one."
    : "No local stack answers here; connect to a deployed stack instead.";
  ui.localForm.querySelector("button").disabled = true;
}

prefillForms();
showState({ state: STATES.OFFLINE });
renderAll();
detectLocalStack();
