// The chat page: one conversation over the resuming WebSocket, or a read-only shared view.
import { ChatSocket, api, askParentForToken, basePath, takeToken, watchParentToken } from './api.js';
import { messageElement, setContent, systemLine, typingIndicator } from './render.js';

const $ = (id) => document.getElementById(id);
const messages = $('messages-container');
const input = $('message-input');
const selector = $('model-selector');
const params = new URL(location.href).searchParams;

let socket = null;
let typing = null; // the typing dots, while shown
let streaming = null; // {node, text} of the AI reply being streamed
let models = [];
let modelId = null;
const pending = []; // local user bubbles awaiting the server's echo: {node, content}

function setStatus(state, text) {
  $('status-indicator').className = `indicator ${state}`;
  $('status-text').textContent = text;
}

function nearBottom() {
  return messages.scrollHeight - messages.scrollTop - messages.clientHeight < 80;
}

function append(node) {
  const stick = nearBottom();
  if (typing && typing.isConnected) messages.insertBefore(node, typing);
  else messages.append(node);
  if (stick) messages.scrollTop = messages.scrollHeight;
}

function showTyping(on) {
  if (on && !typing) {
    typing = typingIndicator();
    messages.append(typing);
    messages.scrollTop = messages.scrollHeight;
  } else if (!on && typing) {
    typing.remove();
    typing = null;
  }
}

function system(text, opts) {
  append(systemLine(text, opts));
}

function modelName(id) {
  return models.find((m) => m.id === id)?.name ?? id;
}

function showModels(frame) {
  if (Array.isArray(frame.models)) models = frame.models;
  const previous = modelId;
  modelId = frame.model_id || modelId;
  const current = $('current-model');
  current.hidden = !modelId;
  current.textContent = modelId ? `Model: ${modelName(modelId)}` : '';
  if (models.length > 1) {
    selector.replaceChildren(
      ...models.map((m) => {
        const o = document.createElement('option');
        o.value = m.id;
        o.textContent = m.name || m.id;
        return o;
      }),
    );
    selector.value = modelId ?? '';
    $('model-selector-container').hidden = !$('admin-name-display').hidden;
  }
  return previous;
}

function renderHistory(list) {
  streaming = null;
  showTyping(false);
  messages.replaceChildren(...list.map(messageElement));
  for (const p of pending) messages.append(p.node);
  messages.scrollTop = messages.scrollHeight;
}

async function loadHistory(sessionId) {
  try {
    const s = await api(`/sessions/${encodeURIComponent(sessionId)}`);
    renderHistory(s.messages ?? []);
    setTitle(s.name);
  } catch (e) {
    if (e.status === 404) renderHistory([]); // a new session, not stored yet
    else system(`Error: could not load the conversation (${e.message})`, { error: true });
  }
}

function setTitle(name) {
  if (!name) return;
  $('chat-title').textContent = name;
  document.title = `${name} · Chat`;
}

function rememberSession(id) {
  const url = new URL(location.href);
  url.searchParams.delete('new');
  url.searchParams.set('session_id', id);
  history.replaceState(history.state, '', url.pathname + url.search + url.hash);
}

// Frames that arrive while history loads wait, so nothing is drawn out of order.
let held = null;

async function onAttach(frame, { recovered }) {
  rememberSession(frame.session_id);
  const previous = showModels(frame);
  if (previous && previous !== modelId) system(`Switched to ${modelName(modelId)}`);
  if (recovered) return;
  held = [];
  await loadHistory(frame.session_id);
  const queued = held;
  held = null;
  for (const f of queued) onFrame(f);
}

function aiFrame(frame) {
  const meta = frame.metadata ?? {};
  if (meta.streaming !== 'true') {
    showTyping(false);
    append(messageElement(frame));
    return;
  }
  if (frame.content) {
    showTyping(false);
    if (!streaming) {
      streaming = { node: messageElement({ ...frame, content: '' }), text: '' };
      streaming.node.setAttribute('aria-busy', 'true'); // announced once complete
      append(streaming.node);
    }
    const stick = nearBottom();
    streaming.text += frame.content;
    setContent(streaming.node, streaming.text);
    if (stick) messages.scrollTop = messages.scrollHeight;
  }
  if (meta.done === 'true') {
    showTyping(false);
    if (streaming) {
      streaming.node.dataset.done = 'true';
      streaming.node.removeAttribute('aria-busy');
    }
    streaming = null;
  }
}

function userFrame(frame) {
  if (frame.sender === 'user' && $('chat-title').textContent === 'Chat') setTitle(frame.content?.slice(0, 60));
  if (frame.sender === 'user' && pending.length && pending[0].content === frame.content) {
    const { node } = pending.shift();
    node.classList.remove('pending');
    return;
  }
  append(messageElement(frame));
}

function onFrame(frame) {
  if (held) {
    held.push(frame);
    return;
  }
  switch (frame.type) {
    case 'connection_status': {
      const previous = showModels(frame);
      if (previous !== modelId) system(`Switched to ${modelName(modelId)}`);
      break;
    }
    case 'ai_response':
      aiFrame(frame);
      break;
    case 'loading':
      showTyping(true);
      break;
    case 'user_message':
    case 'file_upload':
    case 'voice_message':
      userFrame(frame);
      break;
    case 'admin_join':
      $('admin-name').textContent = frame.metadata?.admin_name || 'Admin';
      $('admin-name-display').hidden = false;
      $('model-selector-container').hidden = true;
      system(frame.content || `${frame.metadata?.admin_name || 'Admin'} has joined the conversation`);
      break;
    case 'admin_leave':
      $('admin-name-display').hidden = true;
      $('model-selector-container').hidden = models.length <= 1;
      system(frame.content || 'Admin has left the conversation');
      break;
    case 'notification':
      if (frame.content) system(frame.content);
      break;
    case 'error':
      showTyping(false);
      if (frame.error?.code === 'INVALID_MODEL') selector.value = modelId ?? '';
      system(`Error: ${frame.error?.message || 'An error occurred'}`, { error: true });
      break;
    default:
      break; // pong, typing_indicator: nothing to show
  }
}

function onStatus(state, detail) {
  if (state === 'connecting') setStatus('connecting', 'Connecting...');
  else if (state === 'connected') setStatus('connected', 'Connected');
  else if (state === 'reconnecting') setStatus('reconnecting', `Reconnecting in ${detail}s...`);
  else setStatus('disconnected', detail || 'Disconnected');
}

function sendMessage() {
  const content = input.value.trim();
  if (!content || !socket) return;
  const node = messageElement({ sender: 'user', content, timestamp: new Date().toISOString() });
  node.classList.add('pending');
  pending.push({ node, content });
  append(node);
  messages.scrollTop = messages.scrollHeight;
  socket.send({ type: 'user_message', content });
  input.value = '';
  input.focus();
}

async function share() {
  const id = socket?.sessionId;
  if (!id || !messages.querySelector('.message.user, .message.ai')) {
    system("Start a conversation first — there's nothing to share yet");
    return;
  }
  try {
    const { share_token: token } = await api(`/sessions/${encodeURIComponent(id)}/share`, { method: 'POST' });
    const link = new URL(`${basePath()}/chat.html`, location.origin);
    link.searchParams.set('share_token', token);
    $('share-link').value = link.href;
    $('share-feedback').textContent = '';
    $('share-dialog').showModal();
    $('share-link').select();
  } catch {
    system('Failed to share session', { error: true });
  }
}

async function copyShareLink() {
  const field = $('share-link');
  try {
    await navigator.clipboard.writeText(field.value);
    $('share-feedback').textContent = 'Link copied';
  } catch {
    field.select();
    $('share-feedback').textContent = 'Press Ctrl+C (or ⌘C) to copy the selected link';
  }
}

async function sharedView(token) {
  for (const id of ['input-area', 'back-btn', 'share-btn']) $(id).hidden = true;
  setStatus('readonly', 'Shared conversation (read-only)');
  document.body.classList.add('read-only');
  try {
    const res = await fetch(`${basePath()}/shared/${encodeURIComponent(token)}`, { credentials: 'omit' });
    if (res.status === 404) throw new Error('Shared session not found');
    if (!res.ok) throw new Error('Failed to load shared session');
    const s = await res.json();
    setTitle(s.name);
    renderHistory(s.messages ?? []);
  } catch (e) {
    system(e.message === 'Shared session not found' ? e.message : 'Failed to load shared session', { error: true });
  }
}

function start() {
  const shareToken = params.get('share_token');
  if (shareToken) {
    sharedView(shareToken);
    return;
  }
  takeToken();
  socket = new ChatSocket({ sessionId: params.get('session_id'), onStatus, onAttach, onFrame });
  watchParentToken((token) => socket.refreshToken(token));
  $('input-area').addEventListener('submit', (e) => {
    e.preventDefault();
    sendMessage();
  });
  $('help-btn').addEventListener('click', () => {
    socket.send({ type: 'help_request' });
    if (!socket.open) system('Help request queued: it is sent when the connection is back.');
  });
  selector.addEventListener('change', () => {
    if (selector.value && selector.value !== modelId) socket.send({ type: 'model_select', model_id: selector.value });
  });
  $('share-btn').addEventListener('click', share);
  $('share-copy').addEventListener('click', copyShareLink);
  $('share-close').addEventListener('click', () => $('share-dialog').close());
  $('back-btn').addEventListener('click', () => {
    socket.close();
    location.href = 'sessions.html';
  });
  if (sessionStorage.getItem('jwt_token')) {
    socket.connect();
  } else {
    setStatus('disconnected', 'No authentication token');
    askParentForToken('request_token');
  }
  input.focus();
}

start();
