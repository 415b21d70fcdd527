// Chatbox client: token handling, REST calls, uploads and file downloads, and the resuming WebSocket.
// Shared by the chat, sessions and admin pages; no DOM rendering here.

const TOKEN_KEY = 'jwt_token';

// The token lives in memory. Storage is only a bonus that survives a reload: a cross-site frame
// is denied sessionStorage outright (reading the property throws SecurityError), and the pages
// must work there all the same, asking the embedding parent instead.
let memoryToken = null;

function storage() {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

function stored() {
  try {
    return storage()?.getItem(TOKEN_KEY) ?? null;
  } catch {
    return null;
  }
}

function remember(token) {
  try {
    storage()?.setItem(TOKEN_KEY, token);
  } catch {
    // Storage denied or full: the token stays in memory only.
  }
}

/** The prefix the pages are served under (e.g. "/chatbox"), from the page's own path. */
export function basePath() {
  const p = location.pathname;
  return p.slice(0, p.lastIndexOf('/'));
}

/** Origins allowed to embed the pages and post them a token (set by the server). */
export function parentOrigins() {
  const meta = document.querySelector('meta[name="chatbox-parent-origins"]');
  return (meta?.content ?? '').split(/\s+/).filter((o) => /^https?:\/\/[^\s/]+$/.test(o));
}

/** Moves a `?token=` into memory (and storage when allowed) and out of the address bar; returns the current token. */
export function takeToken() {
  const url = new URL(location.href);
  const fromUrl = url.searchParams.get('token');
  if (fromUrl) {
    setToken(fromUrl);
    url.searchParams.delete('token');
    history.replaceState(history.state, '', url.pathname + url.search + url.hash);
  }
  return getToken();
}

export function getToken() {
  if (!memoryToken) memoryToken = stored();
  return memoryToken;
}

export function setToken(token) {
  memoryToken = token;
  remember(token);
}

/** The token's claims (unverified: for display only; the server decides), or null. */
export function tokenClaims(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(part), (c) => c.charCodeAt(0))));
  } catch {
    return null;
  }
}

/** The token's `exp` in ms since the epoch, or null. */
export function tokenExpiry(token) {
  const exp = tokenClaims(token)?.exp;
  return typeof exp === 'number' ? exp * 1000 : null;
}

function embedded() {
  return window.parent !== window;
}

/** Asks the embedding parent for a token (`request_token` at start, `refresh_token` later). */
export function askParentForToken(type = 'request_token') {
  if (!embedded()) return false;
  for (const origin of parentOrigins()) window.parent.postMessage({ type }, origin);
  return true;
}

/**
 * Accepts `{type: "token", token}` from the embedding parent, only from an allowed origin,
 * stores it and calls `onToken`. Asks for a fresh token a minute before the current one expires.
 */
export function watchParentToken(onToken) {
  let timer = null;
  const schedule = (token) => {
    clearTimeout(timer);
    const exp = token && tokenExpiry(token);
    if (!exp || !embedded()) return;
    const wait = Math.max(1000, exp - Date.now() - 60_000);
    timer = setTimeout(() => askParentForToken('refresh_token'), Math.min(wait, 2 ** 31 - 1));
  };
  window.addEventListener('message', (event) => {
    if (!embedded() || event.source !== window.parent) return;
    if (!parentOrigins().includes(event.origin)) return;
    const data = event.data;
    if (!data || data.type !== 'token' || typeof data.token !== 'string' || !data.token) return;
    setToken(data.token);
    schedule(data.token);
    onToken(data.token);
  });
  schedule(getToken());
}

/** An error answer of the API: `status`, `code` and the server's message. */
export class ApiError extends Error {
  constructor(status, code, message, retryAfterSecs = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfterSecs = retryAfterSecs;
  }
}

/** Calls `P{path}`; resolves to the JSON body, rejects with ApiError. */
export async function api(path, { method = 'GET', token = getToken(), body } = {}) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(basePath() + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, 'NETWORK', 'Network error');
  }
  const json = await res.json().catch(() => ({}));
  if (!res.ok) throw errorOf(res.status, json, res.statusText, res.headers.get('Retry-After'));
  return json;
}

/** The ApiError of an error answer: its status, the JSON body's `error` and `code`, `Retry-After`. */
function errorOf(status, json, statusText, retryAfter) {
  const retry = Number.parseInt(retryAfter ?? '', 10);
  return new ApiError(status, json.code ?? 'HTTP', json.error ?? statusText, Number.isFinite(retry) ? retry : null);
}

/**
 * Uploads `file` (a File or Blob) to `P/upload` as the multipart field `file`, named `name`.
 * XMLHttpRequest, not fetch: fetch reports no upload progress. `onProgress(loaded, total)` follows
 * the bytes sent. Returns `{promise, abort}`; the promise resolves to the server's
 * `{file_id, file_url, size, mime_type, file_name}` and rejects with an ApiError (`ABORTED` after
 * `abort()`, `NETWORK` when the request failed, else the server's status, code and message).
 */
export function uploadFile(file, { name = file.name || 'file', onProgress = null } = {}) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    xhr.open('POST', `${basePath()}/upload`);
    const token = getToken();
    if (token) xhr.setRequestHeader('Authorization', `Bearer ${token}`);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.addEventListener('progress', (e) => {
      onProgress?.(e.loaded, e.lengthComputable && e.total ? e.total : file.size);
    });
    xhr.addEventListener('load', () => {
      let json = {};
      try {
        json = JSON.parse(xhr.responseText) ?? {};
      } catch {
        // not JSON: the status says enough
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(json);
      else reject(errorOf(xhr.status, json, xhr.statusText || 'Upload failed', xhr.getResponseHeader('Retry-After')));
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, 'NETWORK', 'Network error')));
    xhr.addEventListener('abort', () => reject(new ApiError(0, 'ABORTED', 'Upload cancelled')));
    const form = new FormData();
    form.append('file', file, name);
    xhr.send(form);
  });
  return { promise, abort: () => xhr.abort() };
}

/**
 * `fileUrl` as an absolute URL when it names an uploaded file on this server (`P/files/...`),
 * else null: the token is only ever sent there.
 */
export function ownFileUrl(fileUrl) {
  try {
    const url = new URL(fileUrl, location.href);
    if (url.origin !== location.origin || !url.pathname.startsWith(`${basePath()}/files/`)) return null;
    return url.href;
  } catch {
    return null;
  }
}

const fileUrls = new Map(); // absolute file URL → Promise of a blob: URL

/**
 * A `blob:` URL with the bytes of an uploaded file, fetched once per page with the token in the
 * `Authorization` header (never in a URL). A store that answers with a redirect to a short-lived
 * presigned URL is followed; the browser drops the header when the redirect leaves the origin,
 * and the presigned URL needs none. Rejects with an ApiError.
 */
export function fileObjectUrl(fileUrl) {
  const url = ownFileUrl(fileUrl);
  if (!url) return Promise.reject(new ApiError(0, 'BAD_URL', 'Not a file of this server'));
  let blobUrl = fileUrls.get(url);
  if (!blobUrl) {
    blobUrl = fetchFile(url).then((blob) => URL.createObjectURL(blob));
    blobUrl.catch(() => fileUrls.delete(url)); // a failure may be retried
    fileUrls.set(url, blobUrl);
  }
  return blobUrl;
}

async function fetchFile(url) {
  const token = getToken();
  if (!token) throw new ApiError(401, 'UNAUTHORIZED', 'Not signed in');
  let res;
  try {
    res = await fetch(url, {
      headers: { Authorization: `Bearer ${token}` },
      credentials: 'omit',
      redirect: 'follow',
      referrerPolicy: 'no-referrer',
    });
  } catch {
    throw new ApiError(0, 'NETWORK', 'Network error');
  }
  if (!res.ok) {
    const json = await res.json().catch(() => ({}));
    throw errorOf(res.status, json, res.statusText, res.headers.get('Retry-After'));
  }
  return res.blob();
}

/**
 * The WebSocket URL `P/ws?...` on the serving host. A browser cannot set a header on a
 * WebSocket, so the token travels in the query (the server never logs it).
 */
export function wsUrl(params) {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}${basePath()}/ws?${new URLSearchParams(params)}`;
}

/**
 * The chat WebSocket. Reconnects with jittered exponential backoff and resumes with
 * `session_id` + `last_seq`, so every session frame is delivered once, in order.
 *
 * Callbacks: `onStatus(state, detail)` with state connecting|connected|reconnecting|disconnected;
 * `onAttach(status, {resumed, recovered})` for the first `connection_status` of every socket
 * (when it is not a complete resume the page reloads history); `onFrame(frame)` for the rest.
 * `mode: "watch"` opens an admin's read-only watch of `sessionId` (CONTRACT §4).
 */
export class ChatSocket {
  constructor({ sessionId = null, mode = null, onStatus, onAttach, onFrame }) {
    this.sessionId = sessionId;
    this.mode = mode;
    this.lastSeq = null;
    this.onStatus = onStatus;
    this.onAttach = onAttach;
    this.onFrame = onFrame;
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.stopped = false;
    this.attached = false;
    this.outbox = [];
  }

  get open() {
    return this.attached && this.ws?.readyState === WebSocket.OPEN;
  }

  connect() {
    const token = getToken();
    if (!token) {
      this.onStatus('disconnected', 'No authentication token');
      return;
    }
    clearTimeout(this.timer);
    this.stopped = false;
    const q = { token };
    const resuming = this.sessionId !== null && this.lastSeq !== null;
    if (this.sessionId) q.session_id = this.sessionId;
    if (resuming) q.last_seq = String(this.lastSeq);
    if (this.mode) q.mode = this.mode;
    const ws = new WebSocket(wsUrl(q));
    this.ws = ws;
    this.attached = false;
    this.onStatus('connecting');
    ws.onmessage = (event) => this.#receive(ws, event, resuming);
    ws.onclose = (event) => this.#closed(ws, event);
  }

  #receive(ws, event, resuming) {
    if (ws !== this.ws) return;
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    if (!this.attached) {
      if (frame.type !== 'connection_status') return;
      this.attached = true;
      this.attempt = 0;
      const sameSession = this.sessionId === frame.session_id;
      const recovered = resuming && sameSession && frame.metadata?.recovered === 'true';
      this.sessionId = frame.session_id;
      // A fresh attach (or an incomplete resume) starts after the current seq; history comes
      // over REST. A complete resume keeps lastSeq: the replay follows this frame.
      if (!recovered) this.lastSeq = frame.seq ?? 0;
      this.onStatus('connected');
      // Queued frames go out once the page has its history, so none is shown twice.
      Promise.resolve(this.onAttach(frame, { resumed: resuming, recovered }))
        .catch(() => {})
        .finally(() => this.#flush());
      return;
    }
    if (typeof frame.seq === 'number') {
      if (this.lastSeq !== null && frame.seq <= this.lastSeq) return; // already seen
      this.lastSeq = frame.seq;
    }
    this.onFrame(frame);
  }

  #closed(ws, event) {
    if (ws !== this.ws) return;
    this.ws = null;
    this.attached = false;
    if (this.stopped) {
      this.onStatus('disconnected', 'Disconnected');
      return;
    }
    const exp = tokenExpiry(getToken() ?? '');
    if (event.code === 4001 || (exp && exp <= Date.now())) askParentForToken('refresh_token');
    const base = Math.min(30_000, 500 * 2 ** this.attempt);
    const delay = Math.round(base * (0.5 + Math.random() * 0.5));
    this.attempt += 1;
    this.onStatus('reconnecting', Math.ceil(delay / 1000));
    this.timer = setTimeout(() => this.connect(), delay);
  }

  /** Sends a frame now, or queues it until the socket is attached. */
  send(frame) {
    const full = { session_id: this.sessionId ?? undefined, timestamp: new Date().toISOString(), ...frame };
    if (this.open) {
      this.ws.send(JSON.stringify(full));
    } else {
      this.outbox.push(frame);
    }
  }

  /** Sends a live-only frame (a typing indicator) when attached; otherwise drops it. */
  sendLive(frame) {
    if (this.open) this.send(frame);
  }

  #flush() {
    const queued = this.outbox.splice(0);
    for (const frame of queued) this.send(frame);
  }

  /** Hands a fresh token to the open socket, or reconnects at once with it. */
  refreshToken(token) {
    if (this.open) {
      this.ws.send(JSON.stringify({ type: 'auth', content: token }));
    } else if (!this.stopped) {
      this.attempt = 0;
      if (this.ws) this.ws.close();
      else this.connect();
    }
  }

  /** Closes for good (no reconnect). */
  close() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.ws?.close(1000, 'bye');
  }
}

/**
 * Typing signals for `typing_indicator` frames: `input()` on every keystroke sends "true" at
 * once and again every `repeatMs` while typing goes on (so a receiver can expire a stale one),
 * and "false" after `idleMs` without input or on `stop()`.
 */
export class TypingSignal {
  constructor(send, { repeatMs = 3000, idleMs = 2500 } = {}) {
    this.sendFn = send;
    this.repeatMs = repeatMs;
    this.idleMs = idleMs;
    this.active = false;
    this.lastSent = 0;
    this.idle = null;
  }

  input() {
    const now = Date.now();
    if (!this.active || now - this.lastSent >= this.repeatMs) {
      this.sendFn(true);
      this.active = true;
      this.lastSent = now;
    }
    clearTimeout(this.idle);
    this.idle = setTimeout(() => this.stop(), this.idleMs);
  }

  stop() {
    clearTimeout(this.idle);
    if (!this.active) return;
    this.active = false;
    this.sendFn(false);
  }
}

/** How long a received "typing" stays shown without a repeat (the sender repeats every 3 s). */
export const TYPING_EXPIRES_MS = 7000;
