// The admin dashboard (CONTRACT §2.1, §2.2, §4; reference §10.3 for the element ids): the help
// queue, metrics, the session list with filters, sorts and paging, one user's sessions, and the
// live watch / takeover view (watch.js). Every REST call carries the token in the Authorization
// header; the live parts come over WebSockets (the event feed, the watch).
//
// The admin API is rate-limited per admin (20 requests a minute by default), so the page is
// frugal: a full refresh is three requests, made every 30 s while auto-refresh is on and at most
// every 10 s when the event feed reports activity; the help queue follows the feed's events
// without any request, and a 429 pauses refreshing for as long as the server asks.
import { api, askParentForToken, getToken, takeToken, tokenClaims, watchParentToken } from './api.js';
import { EventFeed } from './feed.js';
import { WatchView } from './watch.js';

const AUTO_REFRESH_MS = 30_000;
const EVENT_REFRESH_MIN_MS = 10_000;
const EVENT_REFRESH_DEBOUNCE_MS = 300;
const WAIT_TICK_MS = 20_000;
const QUEUE_LIMIT = 100;

const $ = (id) => document.getElementById(id);

const state = {
  applied: {}, // the filters of the last Apply
  offset: 0,
  limit: 25,
  total: 0,
  auto: true,
  lastRefresh: 0,
  pausedUntil: 0,
  refreshing: null,
  timer: null,
  eventTimer: null,
  stale: false,
  again: false,
  routed: false,
};

/** The help queue: session id → {session_id, user_id, name, help_requested_at, localAt}. */
const queue = new Map();
const removedAt = new Map(); // session id → when an event took it off the queue

let feed = null;
let watch = null;
let returnFocus = null;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

function button(text, className, attrs = {}) {
  const b = el('button', className, text);
  b.type = 'button';
  for (const [k, v] of Object.entries(attrs)) b.setAttribute(k, v);
  return b;
}

// ---------- formatting ----------

/** "1h 5m", "3m 12s", "42s" (the Go page's forms). */
function formatDuration(secs) {
  const s = Math.max(0, Math.floor(Number(secs) || 0));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

/** "850ms", "1.25s"; "-" when there is none. */
function formatMs(ms) {
  const n = Number(ms);
  if (!Number.isFinite(n) || n <= 0) return '-';
  return n < 1000 ? `${Math.round(n)}ms` : `${(n / 1000).toFixed(2)}s`;
}

function formatWhen(ts) {
  const d = ts ? new Date(ts) : null;
  return d && !Number.isNaN(d.getTime()) ? d.toLocaleString([], { dateStyle: 'short', timeStyle: 'short' }) : '-';
}

function formatWait(since, now = Date.now()) {
  const mins = Math.floor((now - Date.parse(since)) / 60_000);
  if (!Number.isFinite(mins) || mins < 1) return 'Waiting less than a minute';
  if (mins < 60) return `Waiting ${mins} min`;
  return `Waiting ${Math.floor(mins / 60)} h ${mins % 60} min`;
}

function shortId(id) {
  return id.length > 8 ? `${id.slice(0, 8)}...` : id;
}

// ---------- page states ----------

function pageStatus(text, { retry = false } = {}) {
  $('page-status').hidden = !text;
  $('page-status-text').textContent = text ?? '';
  $('page-status-retry').hidden = !retry;
}

function adminsOnly() {
  stopAuto();
  feed?.stop();
  $('dashboard').hidden = true;
  $('watch-view').hidden = true;
  $('admins-only').hidden = false;
  for (const id of ['refresh-btn', 'auto-refresh-status', 'feed-status']) $(id).hidden = true;
  pageStatus(null);
}

function expired() {
  stopAuto();
  feed?.stop();
  pageStatus('Your session has expired. Please sign in again.');
  askParentForToken('refresh_token');
}

/** Handles a failed call; true when the page can go on. */
function failed(e, what) {
  if (e.status === 403) {
    adminsOnly();
    return false;
  }
  if (e.status === 401) {
    expired();
    return false;
  }
  if (e.status === 429) {
    const secs = e.retryAfterSecs ?? 60;
    state.pausedUntil = Date.now() + secs * 1000;
    pageStatus(`Too many requests: refreshing pauses for ${secs} s.`, { retry: true });
    return true;
  }
  if (e.status === 400) {
    pageStatus(`${what}: ${e.message}`);
    return true;
  }
  pageStatus(`${what} failed (${e.message}).`, { retry: true });
  return true;
}

// ---------- metrics ----------

// Answers can arrive out of order (a sort change while a refresh runs): only the newest request
// of each kind is drawn.
const latest = { metrics: 0, sessions: 0 };

async function loadMetrics() {
  const q = new URLSearchParams();
  if (state.applied.start_time) q.set('start_time', state.applied.start_time);
  if (state.applied.end_time) q.set('end_time', state.applied.end_time);
  const mine = ++latest.metrics;
  const m = await api(`/admin/metrics${q.size ? `?${q}` : ''}`);
  if (mine !== latest.metrics) return;
  $('active-sessions').textContent = String(m.active_sessions ?? 0);
  $('total-sessions').textContent = String(m.total_sessions ?? 0);
  $('avg-concurrent').textContent = Number(m.avg_concurrent ?? 0).toFixed(1);
  $('total-tokens').textContent = Number(m.total_tokens ?? 0).toLocaleString();
  $('avg-response-time').textContent = formatMs(m.avg_response_time);
  $('max-response-time').textContent = formatMs(m.max_response_time);
  $('help-requests').textContent = String(m.help_requested_count ?? 0);
  const range = m.time_range;
  $('metrics-range').textContent = range
    ? `Metrics from ${formatWhen(range.start)} to ${formatWhen(range.end)}; peak ${m.max_concurrent ?? 0} concurrent`
    : '';
}

// ---------- sessions table ----------

function readFilters() {
  const f = {};
  const user = $('filter-user-id').value.trim();
  if (user) f.user_id = user;
  if ($('filter-date-start').value) f.start_time = $('filter-date-start').value;
  if ($('filter-date-end').value) f.end_time = $('filter-date-end').value;
  if ($('filter-status').value) f.status = $('filter-status').value;
  if ($('filter-admin').value) f.admin_assisted = $('filter-admin').value;
  if ($('filter-help').value) f.help_requested = $('filter-help').value;
  return f;
}

function listQuery() {
  const q = new URLSearchParams(state.applied);
  q.set('sort_by', $('sort-field').value);
  q.set('sort_order', $('sort-order').value);
  q.set('limit', String(state.limit));
  q.set('offset', String(state.offset));
  return q;
}

function statusBadge(s) {
  const badge = el('span', `status-badge ${s.is_active ? 'active' : 'ended'}`, s.is_active ? 'Active' : 'Ended');
  return badge;
}

function adminCell(s) {
  if (!s.admin_assisted) return document.createTextNode('-');
  return el('span', 'admin-badge', s.assisting_admin_name || 'Admin');
}

function actions(s) {
  const id = s.session_id ?? s.id;
  const cell = el('div', 'row-actions');
  if (s.is_active) {
    cell.append(
      button('Watch', 'btn-small', { 'data-watch-session': id, 'aria-label': `Watch session ${shortId(id)} of ${s.user_id}` }),
      button('Takeover', 'btn-small primary-btn', { 'data-takeover-session': id, 'aria-label': `Take over session ${shortId(id)} of ${s.user_id}` }),
    );
  } else {
    cell.append(button('View', 'btn-small', { 'data-view-session': id, 'aria-label': `View session ${shortId(id)} of ${s.user_id}` }));
  }
  return cell;
}

function row(s) {
  const id = s.session_id ?? s.id;
  const tr = el('tr');
  tr.dataset.sessionId = id;
  const td = (child, className) => {
    const cell = el('td', className);
    if (child instanceof Node) cell.append(child);
    else cell.textContent = child;
    return cell;
  };
  const user = button(s.user_id, 'user-link', { 'data-user-id': s.user_id, 'aria-label': `Sessions of ${s.user_id}` });
  const sid = el('span', 'session-id', shortId(id));
  sid.title = id;
  const status = el('span', 'status-cell');
  status.append(statusBadge(s));
  if (s.help_requested) status.append(el('span', 'help-badge', 'Help'));
  tr.append(
    td(user),
    td(sid),
    td(status),
    td(formatWhen(s.start_time)),
    td(formatDuration(s.duration)),
    td(formatWhen(s.last_activity)),
    td(Number(s.total_tokens ?? 0).toLocaleString(), 'num'),
    td(formatMs(s.avg_response_time), 'num'),
    td(formatMs(s.max_response_time), 'num'),
    td(adminCell(s)),
    td(actions(s)),
  );
  return tr;
}

async function loadSessions() {
  const mine = ++latest.sessions;
  const body = await api(`/admin/sessions?${listQuery()}`);
  if (mine !== latest.sessions) return;
  const sessions = Array.isArray(body) ? body : body.sessions ?? [];
  state.total = typeof body.total === 'number' ? body.total : sessions.length;
  if (sessions.length === 0 && state.offset > 0 && state.total > 0) {
    // The page emptied under us (sessions ended or filters changed elsewhere): go to the last one.
    state.offset = Math.max(0, Math.floor((state.total - 1) / state.limit) * state.limit);
    return loadSessions();
  }
  $('sessions-tbody').replaceChildren(...sessions.map(row));
  $('empty-state').hidden = sessions.length > 0;
  const first = sessions.length ? state.offset + 1 : 0;
  const last = state.offset + sessions.length;
  $('page-info').textContent = sessions.length ? `${first}–${last} of ${state.total}` : `0 of ${state.total}`;
  $('page-prev').disabled = state.offset === 0;
  $('page-next').disabled = last >= state.total;
}

// ---------- help queue ----------

const QUEUE_QUERY = new URLSearchParams({
  help_requested: 'true',
  status: 'active',
  admin_assisted: 'false',
  sort_by: 'help_requested_at',
  sort_order: 'asc',
  limit: String(QUEUE_LIMIT),
});

async function loadQueue() {
  const started = Date.now();
  const body = await api(`/admin/sessions?${QUEUE_QUERY}`);
  const fresh = new Map();
  for (const s of body.sessions ?? []) {
    const id = s.session_id ?? s.id;
    // A removal the feed reported after this request started wins over the older list.
    if ((removedAt.get(id) ?? 0) > started) continue;
    fresh.set(id, { session_id: id, user_id: s.user_id, name: s.name, help_requested_at: s.help_requested_at ?? s.last_activity });
  }
  // Requests the feed reported while this list was being read are kept.
  for (const [id, item] of queue) if (!fresh.has(id) && item.localAt > started) fresh.set(id, item);
  queue.clear();
  for (const [id, item] of fresh) queue.set(id, item);
  renderQueue();
}

function queueItem(item) {
  const li = el('li', 'help-item');
  li.dataset.sessionId = item.session_id;
  const who = el('div', 'help-who');
  who.append(el('strong', 'help-user', item.user_id), el('span', 'help-session', item.name || `Session ${shortId(item.session_id)}`));
  const wait = el('time', 'help-wait', formatWait(item.help_requested_at));
  wait.dateTime = item.help_requested_at ?? '';
  wait.title = formatWhen(item.help_requested_at);
  const acts = el('div', 'help-actions');
  acts.append(
    button('Watch', 'queue-watch', { 'data-queue-watch': item.session_id, 'aria-label': `Watch ${item.user_id}'s session` }),
    button('Take over', 'queue-takeover primary-btn', { 'data-queue-takeover': item.session_id, 'aria-label': `Take over ${item.user_id}'s session` }),
  );
  li.append(who, wait, acts);
  return li;
}

function renderQueue() {
  const items = [...queue.values()].sort((a, b) => Date.parse(a.help_requested_at) - Date.parse(b.help_requested_at));
  $('help-queue-list').replaceChildren(...items.map(queueItem));
  $('help-queue-empty').hidden = items.length > 0;
  $('help-queue-count').textContent = String(items.length);
  $('help-queue').classList.toggle('has-waiting', items.length > 0);
}

function tickWaits() {
  for (const t of document.querySelectorAll('#help-queue-list .help-wait')) t.textContent = formatWait(t.dateTime);
}

// ---------- refreshing ----------

function stopAuto() {
  clearTimeout(state.timer);
  clearTimeout(state.eventTimer);
  state.timer = null;
  state.eventTimer = null;
}

function scheduleAuto() {
  clearTimeout(state.timer);
  if (!state.auto) return;
  const wait = Math.max(AUTO_REFRESH_MS - (Date.now() - state.lastRefresh), state.pausedUntil - Date.now(), 1000);
  state.timer = setTimeout(() => refresh({ auto: true }), wait);
}

/** Metrics, the session page and the help queue, in parallel. */
async function refresh({ auto = false } = {}) {
  if (state.refreshing) {
    // An Apply or Refresh during an automatic refresh runs again after it, with its inputs.
    if (!auto) state.again = true;
    return state.refreshing;
  }
  if (auto && (Date.now() < state.pausedUntil || !$('watch-view').hidden || document.hidden)) {
    // Paused by the server, or the dashboard is out of sight: catch up when it is back.
    state.stale = true;
    scheduleAuto();
    return undefined;
  }
  state.lastRefresh = Date.now();
  state.stale = false;
  $('refresh-btn').classList.remove('has-updates');
  $('loading').hidden = $('sessions-tbody').childElementCount > 0;
  state.refreshing = (async () => {
    const results = await Promise.allSettled([loadMetrics(), loadSessions(), loadQueue()]);
    const errors = results.filter((r) => r.status === 'rejected').map((r) => r.reason);
    $('loading').hidden = true;
    if (errors.length === 0) {
      pageStatus(null);
      feed.start();
      if (!state.routed) {
        // A link to `#session/<id>` opens that session once the page knows the token is an admin's.
        state.routed = true;
        if (location.hash) route();
      }
    } else if (!failed(errors[0], 'Loading the dashboard')) {
      return;
    }
    scheduleAuto();
  })();
  try {
    await state.refreshing;
  } finally {
    state.refreshing = null;
  }
  if (state.again) {
    state.again = false;
    await refresh();
  }
  return undefined;
}

/** Activity on the feed: refresh soon (throttled), or flag the Refresh button when auto is off. */
function staleFromEvent() {
  if (!state.auto) {
    $('refresh-btn').classList.add('has-updates');
    return;
  }
  if (state.eventTimer) return;
  const wait = Math.max(EVENT_REFRESH_DEBOUNCE_MS, EVENT_REFRESH_MIN_MS - (Date.now() - state.lastRefresh));
  state.eventTimer = setTimeout(() => {
    state.eventTimer = null;
    refresh({ auto: true });
  }, wait);
}

function onEvent(frame) {
  const id = frame.session_id;
  const event = frame.metadata?.event;
  if (!id || !event) return;
  if (event === 'help_requested') {
    if (!queue.has(id)) {
      queue.set(id, { session_id: id, user_id: frame.user_id, name: null, help_requested_at: frame.timestamp, localAt: Date.now() });
      removedAt.delete(id);
      renderQueue();
    }
  } else if (event === 'takeover' || event === 'ended') {
    removedAt.set(id, Date.now());
    if (queue.delete(id)) renderQueue();
  }
  staleFromEvent();
}

function onFeedStatus(status, detail) {
  const text = { connecting: 'Connecting...', live: 'Live', reconnecting: `Reconnecting in ${detail}s...`, offline: detail || 'Offline' }[status];
  $('feed-indicator').className = `indicator ${status === 'live' ? 'connected' : status === 'offline' ? 'disconnected' : 'connecting'}`;
  $('feed-status-text').textContent = text;
  // Events in a gap are lost: read the lists again.
  if (status === 'live' && detail) refresh({ auto: true });
}

function setAuto(on) {
  state.auto = on;
  const b = $('auto-refresh-status');
  b.setAttribute('aria-pressed', String(on));
  b.replaceChildren('Auto-refresh: ', el('strong', null, on ? 'ON' : 'OFF'));
  if (on) {
    if (state.stale || $('refresh-btn').classList.contains('has-updates')) refresh();
    else scheduleAuto();
  } else {
    stopAuto();
  }
}

// ---------- one user's sessions ----------

async function openUserModal(userId, opener) {
  const modal = $('user-sessions-modal');
  $('modal-user-id').textContent = userId;
  $('modal-status').textContent = 'Loading...';
  $('user-sessions-tbody').replaceChildren();
  returnFocus = opener;
  if (!modal.open) modal.showModal();
  try {
    const body = await api(`/admin/users/${encodeURIComponent(userId)}/sessions?limit=100&sort_by=start_time&sort_order=desc`);
    const sessions = body.sessions ?? [];
    $('user-sessions-tbody').replaceChildren(
      ...sessions.map((s) => {
        const id = s.session_id ?? s.id;
        const tr = el('tr');
        tr.dataset.sessionId = id;
        const name = el('td', null, s.name || shortId(id));
        name.title = id;
        const status = el('td');
        status.append(statusBadge(s));
        const admin = el('td');
        admin.append(adminCell(s));
        const acts = el('td');
        acts.append(actions(s));
        tr.append(name, status, el('td', null, formatWhen(s.start_time)), el('td', 'num', String(s.message_count ?? 0)),
          el('td', 'num', Number(s.total_tokens ?? 0).toLocaleString()), admin, acts);
        return tr;
      }),
    );
    const total = body.total ?? sessions.length;
    $('modal-status').textContent = `${total} session${total === 1 ? '' : 's'}${total > sessions.length ? ` (newest ${sessions.length} shown)` : ''}`;
  } catch (e) {
    if (e.status === 403 || e.status === 401) {
      modal.close();
      failed(e, 'Loading the sessions');
    } else {
      $('modal-status').textContent = `Could not load the sessions: ${e.message}`;
    }
  }
}

// ---------- the watch view ----------

let intent = null; // how the next opened session should start: {id, active, takeOver}

function openSession(id, { active = null, takeOver = false, opener = null } = {}) {
  intent = { id, active, takeOver };
  returnFocus = opener;
  if ($('user-sessions-modal').open) $('user-sessions-modal').close();
  const hash = `#session/${encodeURIComponent(id)}`;
  if (location.hash === hash) route();
  else location.hash = hash;
}

function leaveSession() {
  if (history.state?.fromDashboard) history.back();
  else location.hash = '';
}

function route() {
  const m = location.hash.match(/^#session\/(.+)$/);
  if (!m) {
    watch.close();
    $('watch-view').hidden = true;
    if ($('admins-only').hidden) $('dashboard').hidden = false;
    document.body.classList.remove('watching');
    if (state.stale) refresh();
    const target = returnFocus?.isConnected ? returnFocus : $('help-queue-title');
    target.setAttribute('tabindex', target.getAttribute('tabindex') ?? '-1');
    target.focus();
    return;
  }
  const id = decodeURIComponent(m[1]);
  const how = intent?.id === id ? intent : {};
  intent = null;
  if (how.id && !history.state?.fromDashboard) history.replaceState({ fromDashboard: true }, '');
  $('dashboard').hidden = true;
  $('watch-view').hidden = false;
  document.body.classList.add('watching');
  watch.open(id, { active: how.active ?? null, takeOver: how.takeOver ?? false });
  $('watch-back-btn').focus();
}

// ---------- wiring ----------

function bind() {
  $('filters-form').addEventListener('submit', (e) => {
    e.preventDefault();
    state.applied = readFilters();
    state.offset = 0;
    refresh();
  });
  $('clear-filters-btn').addEventListener('click', () => {
    $('filters-form').reset();
    state.applied = {};
    state.offset = 0;
    refresh();
  });
  for (const id of ['sort-field', 'sort-order']) {
    $(id).addEventListener('change', () => {
      state.offset = 0;
      loadSessions().catch((e) => failed(e, 'Sorting'));
    });
  }
  $('page-size').addEventListener('change', () => {
    state.limit = Number($('page-size').value);
    state.offset = 0;
    loadSessions().catch((e) => failed(e, 'Paging'));
  });
  $('page-prev').addEventListener('click', () => {
    state.offset = Math.max(0, state.offset - state.limit);
    loadSessions().catch((e) => failed(e, 'Paging'));
  });
  $('page-next').addEventListener('click', () => {
    state.offset += state.limit;
    loadSessions().catch((e) => failed(e, 'Paging'));
  });
  $('refresh-btn').addEventListener('click', () => {
    state.pausedUntil = 0;
    refresh();
  });
  $('page-status-retry').addEventListener('click', () => {
    state.pausedUntil = 0;
    refresh();
  });
  $('auto-refresh-status').addEventListener('click', () => setAuto(!state.auto));
  $('modal-close-btn').addEventListener('click', () => $('user-sessions-modal').close());
  $('user-sessions-modal').addEventListener('close', () => {
    if ($('watch-view').hidden && returnFocus?.isConnected) returnFocus.focus();
  });
  // One listener for every row and queue button, present and future.
  document.addEventListener('click', (e) => {
    const b = e.target.closest('button');
    if (!b) return;
    const d = b.dataset;
    if (d.userId) openUserModal(d.userId, b);
    else if (d.watchSession) openSession(d.watchSession, { active: true, opener: b });
    else if (d.takeoverSession) openSession(d.takeoverSession, { active: true, takeOver: true, opener: b });
    else if (d.viewSession) openSession(d.viewSession, { active: false, opener: b });
    else if (d.queueWatch) openSession(d.queueWatch, { active: true, opener: b });
    else if (d.queueTakeover) openSession(d.queueTakeover, { active: true, takeOver: true, opener: b });
  });
  window.addEventListener('hashchange', () => {
    if (state.routed) route();
  });
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && state.stale && state.auto && $('watch-view').hidden) refresh();
  });
  setInterval(tickWaits, WAIT_TICK_MS);
}

function start() {
  const token = takeToken();
  const claims = tokenClaims(token ?? '') ?? {};
  watch = new WatchView({ me: { user_id: claims.user_id, name: claims.name ?? claims.user_id }, onLeave: leaveSession });
  feed = new EventFeed({ onEvent, onStatus: onFeedStatus });
  bind();
  watchParentToken((fresh) => {
    const c = tokenClaims(fresh) ?? {};
    watch.me = { user_id: c.user_id, name: c.name ?? c.user_id };
    watch.refreshToken(fresh);
    if ($('watch-view').hidden && $('admins-only').hidden) refresh();
  });
  if (!token) {
    $('loading').hidden = true;
    onFeedStatus('offline', 'No authentication token');
    pageStatus('No authentication token');
    askParentForToken('request_token');
    return;
  }
  refresh();
}

start();
