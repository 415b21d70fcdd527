// The sessions page: the user's conversations, newest activity first, and "New chat".
import { api, askParentForToken, takeToken, watchParentToken } from './api.js';
import { relativeTime } from './render.js';

const $ = (id) => document.getElementById(id);
const list = $('sessions-list');
const newButton = $('new-session-btn');
const firstChat = document.querySelector('#empty-state .primary-btn');
let sessions = [];

function status(text, { error = false, retry = false } = {}) {
  const bar = $('connection-status');
  bar.hidden = !text;
  bar.classList.toggle('error', error);
  $('status-text').textContent = text ?? '';
  $('retry-btn').hidden = !retry;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function item(s) {
  const li = el('li');
  const a = el('a', 'session-item');
  a.href = `chat.html?session_id=${encodeURIComponent(s.session_id ?? s.id)}`;
  const head = el('div', 'session-head');
  head.append(el('span', 'session-name', s.name || 'Untitled Chat'));
  if (s.admin_assisted) head.append(el('span', 'admin-badge', 'Admin Assisted'));
  if (s.is_active) head.append(el('span', 'active-badge', 'Active'));
  const meta = el('div', 'session-meta');
  const when = s.last_activity || s.start_time;
  const time = el('time', 'session-meta-item session-timestamp', relativeTime(when));
  time.dateTime = when ?? '';
  time.title = when ? new Date(when).toLocaleString() : '';
  const count = s.message_count || 0;
  meta.append(time, el('span', 'session-meta-item session-messages', `${count} message${count === 1 ? '' : 's'}`));
  a.append(head, meta);
  li.append(a);
  return li;
}

async function load() {
  $('loading').hidden = false;
  $('empty-state').hidden = true;
  status(null);
  try {
    const body = await api('/sessions');
    sessions = (body.sessions ?? []).slice();
    const at = (s) => Date.parse(s.last_activity || s.start_time) || 0;
    sessions.sort((a, b) => at(b) - at(a));
    list.replaceChildren(...sessions.map(item));
    $('empty-state').hidden = sessions.length > 0;
    firstChat.hidden = !body.user_id;
    newButton.hidden = false;
  } catch (e) {
    list.replaceChildren();
    if (e.status === 401) status('Your session has expired. Please sign in again.', { error: true });
    else status('Failed to load sessions', { error: true, retry: true });
  } finally {
    $('loading').hidden = true;
  }
}

async function newChat() {
  newButton.disabled = true;
  const active = sessions.filter((s) => s.is_active);
  await Promise.all(
    active.map((s) => api(`/sessions/${encodeURIComponent(s.session_id ?? s.id)}/end`, { method: 'POST' }).catch(() => {})),
  );
  location.href = 'chat.html?new=1';
}

newButton.addEventListener('click', newChat);
firstChat.addEventListener('click', newChat);
$('retry-btn').addEventListener('click', load);
const initial = takeToken();
watchParentToken(() => load());

if (initial) {
  load();
} else {
  $('loading').hidden = true;
  status('No authentication token', { error: true });
  askParentForToken('request_token');
}
