// The chat page: one conversation over the resuming WebSocket, or a read-only shared view.
// While an admin assists (CONTRACT §4) it shows their name in a banner, their messages and
// join/leave lines styled apart, and typing dots while they type; the user's typing is relayed
// back. The help button reports what the server says became of the request. Files, photos and
// voice notes are uploaded to P/upload with a progress bar, then posted as `file_upload` /
// `voice_message` frames.
import {
  ChatSocket,
  TYPING_EXPIRES_MS,
  TypingSignal,
  api,
  askParentForToken,
  basePath,
  getToken,
  takeToken,
  uploadFile,
  watchParentToken,
} from './api.js';
import { formatSize, messageElement, setContent, systemLine, typingIndicator } from './render.js';

const $ = (id) => document.getElementById(id);
const messages = $('messages-container');
const input = $('message-input');
const selector = $('model-selector');
const helpButton = $('help-btn');
const params = new URL(location.href).searchParams;

let socket = null;
let typing = null; // the typing dots, while shown
let typingExpiry = null;
let streaming = null; // {node, text} of the AI reply being streamed
let models = [];
let modelId = null;
let adminName = null; // the assisting admin, while one assists
let userTyping = null;
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

/** Shows the typing dots for `who` (`ai` while a reply is coming, `admin` while they type). */
function showTyping(on, who = 'ai') {
  clearTimeout(typingExpiry);
  if (typing && (!on || typing.dataset.who !== who)) {
    typing.remove();
    typing = null;
  }
  if (!on) return;
  if (!typing) {
    const label = who === 'admin' ? `${adminName || 'Support'} is typing` : 'Assistant is typing';
    typing = typingIndicator(label, who);
    messages.append(typing);
    messages.scrollTop = messages.scrollHeight;
  }
  if (who === 'admin') typingExpiry = setTimeout(() => showTyping(false), TYPING_EXPIRES_MS);
}

function system(text, opts) {
  append(systemLine(text, opts));
}

let readOnly = false; // a shared view: no token, so files are named but not fetched

function bubble(msg) {
  return messageElement(msg, { adminName, files: !readOnly });
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
    $('model-selector-container').hidden = adminName !== null;
  }
  return previous;
}

/**
 * `metadata.features` on `connection_status` lists the optional features the server has on
 * (absent from older servers: everything shown); the controls of the others are hidden.
 */
function applyFeatures(frame) {
  const list = frame.metadata?.features;
  const on = typeof list === 'string' ? new Set(list.split(',').map((f) => f.trim())) : null;
  const has = (feature) => on === null || on.has(feature);
  helpButton.hidden = !has('help');
  $('file-upload-btn').hidden = !has('uploads');
  $('camera-btn').hidden = !has('uploads');
  $('voice-btn').hidden = !has('voice') || !canRecord();
  if (!has('voice')) stopRecording({ cancel: true });
}

function renderHistory(list) {
  streaming = null;
  showTyping(false);
  messages.replaceChildren(...list.map(bubble));
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
  applyFeatures(frame);
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
    append(bubble(frame));
    return;
  }
  if (frame.content) {
    showTyping(false);
    if (!streaming) {
      streaming = { node: bubble({ ...frame, content: '' }), text: '' };
      streaming.node.setAttribute('aria-busy', 'true'); // announced once complete
      append(streaming.node);
    }
    const stick = nearBottom();
    streaming.text += frame.content;
    setContent(streaming.node, streaming.text);
    if (stick) messages.scrollTop = messages.scrollHeight;
  }
  if (meta.done === 'true') {
    if (typing?.dataset.who === 'ai') showTyping(false);
    if (streaming) {
      streaming.node.dataset.done = 'true';
      streaming.node.removeAttribute('aria-busy');
      if (meta.cancelled) streaming.node.dataset.cancelled = meta.cancelled;
    }
    streaming = null;
  }
}

function userFrame(frame) {
  if (frame.sender === 'user' && $('chat-title').textContent === 'Chat') setTitle(frame.content?.slice(0, 60));
  if (frame.type === 'user_message' && frame.sender === 'user' && pending.length && pending[0].content === frame.content) {
    const { node } = pending.shift();
    node.classList.remove('pending');
    return;
  }
  if (frame.sender === 'admin' && typing?.dataset.who === 'admin') showTyping(false);
  append(bubble(frame));
}

const CHANNEL_LABELS = { smtp: 'email', ses: 'email', sms: 'SMS', webhook: 'support system', log: 'server log' };

/** The help request's state from the server's word: `metadata.channels` (`smtp:queued,...`). */
function helpStatus(state, text) {
  helpButton.dataset.state = state;
  helpButton.title = text;
  const line = $('help-status');
  line.textContent = text;
  line.dataset.state = state;
  line.hidden = false;
}

function helpNotification(meta) {
  if (meta.merged === 'true') {
    helpStatus('queued', 'Help already requested: staff were notified.');
    return;
  }
  const pairs = (meta.channels ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => {
      const at = p.lastIndexOf(':');
      return { channel: at > 0 ? p.slice(0, at) : p, state: at > 0 ? p.slice(at + 1) : 'queued' };
    });
  if (!pairs.length) {
    helpStatus('unmonitored', 'Help requests are not monitored: no staff channel is configured.');
    return;
  }
  const states = pairs.map((p) => p.state);
  const overall = states.includes('delivered') ? 'delivered' : states.every((s) => s === 'failed') ? 'failed' : 'queued';
  const detail = pairs.map((p) => `${CHANNEL_LABELS[p.channel] ?? p.channel} ${p.state}`).join(' · ');
  const head = { delivered: 'Staff notified', failed: 'Staff could not be reached', queued: 'Help requested' }[overall];
  helpStatus(overall, `${head}: ${detail}`);
}

function adminJoined(frame) {
  adminName = frame.metadata?.admin_name || 'Admin';
  $('admin-name').textContent = adminName;
  $('admin-name-display').hidden = false;
  $('model-selector-container').hidden = true;
  if (typing?.dataset.who === 'ai') showTyping(false);
  system(frame.content || `${adminName} has joined the conversation`, { kind: 'admin-event' });
  if (helpButton.dataset.state) helpStatus('joined', `${adminName} from support has joined.`);
}

function adminLeft(frame) {
  const name = adminName;
  adminName = null;
  userTyping?.stop();
  if (typing?.dataset.who === 'admin') showTyping(false);
  $('admin-name-display').hidden = true;
  $('model-selector-container').hidden = models.length <= 1;
  system(frame.content || `${name || 'Admin'} has left the conversation`, { kind: 'admin-event' });
  if (helpButton.dataset.state) {
    delete helpButton.dataset.state;
    helpButton.title = 'Ask a person for help';
    $('help-status').hidden = true;
  }
}

function onFrame(frame) {
  if (held) {
    held.push(frame);
    return;
  }
  switch (frame.type) {
    case 'connection_status': {
      applyFeatures(frame);
      const previous = showModels(frame);
      if (previous !== modelId) system(`Switched to ${modelName(modelId)}`);
      break;
    }
    case 'ai_response':
      aiFrame(frame);
      break;
    case 'loading':
      if (!adminName) showTyping(true, 'ai');
      break;
    case 'user_message':
    case 'file_upload':
    case 'voice_message':
      userFrame(frame);
      break;
    case 'admin_join':
      adminJoined(frame);
      break;
    case 'admin_leave':
      adminLeft(frame);
      break;
    case 'typing_indicator':
      if (frame.sender === 'admin' && adminName) showTyping(frame.metadata?.typing === 'true', 'admin');
      break;
    case 'notification':
      if (frame.content) system(frame.content, { kind: 'notice' });
      if (frame.metadata && ('channels' in frame.metadata || frame.metadata.merged === 'true')) helpNotification(frame.metadata);
      break;
    case 'error':
      if (typing?.dataset.who === 'ai') showTyping(false);
      if (frame.error?.code === 'INVALID_MODEL') selector.value = modelId ?? '';
      system(`Error: ${frame.error?.message || 'An error occurred'}`, { error: true });
      break;
    default:
      break; // pong: nothing to show
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
  userTyping?.stop();
  const node = bubble({ sender: 'user', content, timestamp: new Date().toISOString() });
  node.classList.add('pending');
  pending.push({ node, content });
  append(node);
  messages.scrollTop = messages.scrollHeight;
  socket.send({ type: 'user_message', content });
  input.value = '';
  input.focus();
}

// ---------- files, photos and voice notes ----------

let upload = null; // the upload in flight: {abort}
let recording = null; // the voice note being recorded

/** The longest voice note: well under the 25 MB the server transcribes. */
const MAX_RECORDING_MS = 10 * 60 * 1000;

/** Whether this browser can record a voice note (secure context, a microphone API). */
function canRecord() {
  return typeof window.MediaRecorder === 'function' && typeof navigator.mediaDevices?.getUserMedia === 'function';
}

function showProgress(name, fraction) {
  const pct = Math.max(0, Math.min(100, Math.round(fraction * 100)));
  $('upload-progress').hidden = false;
  $('progress-fill').style.width = `${pct}%`;
  $('upload-progress').querySelector('.progress-bar').setAttribute('aria-valuenow', String(pct));
  $('progress-text').textContent = `Uploading ${name}… ${pct}%`;
}

function hideProgress() {
  $('upload-progress').hidden = true;
  $('progress-fill').style.width = '0%';
  $('progress-text').textContent = '';
}

/** The page's words for a refused or failed upload, from the server's answer. */
function uploadErrorText(e, name) {
  if (e.status === 413 || e.code === 'FILE_TOO_LARGE') {
    const limit = /(\d+)\s*bytes/.exec(e.message ?? '');
    return limit ? `File too large (max ${formatSize(Number(limit[1]))})` : 'File too large';
  }
  if (e.status === 429) {
    return e.retryAfterSecs ? `Too many uploads: try again in ${e.retryAfterSecs} s` : `Too many uploads: ${e.message}`;
  }
  if (e.code === 'NETWORK') return `Could not send ${name}: network error`;
  return `Could not send ${name}: ${e.message}`;
}

/**
 * Uploads `file` as `name` with a progress bar, then posts it into the conversation: a
 * `voice_message`, or a `file_upload` with `caption`. Errors are shown in the page.
 */
async function sendFile(file, { name = file.name || 'file', voice = false, caption = '' } = {}) {
  if (!socket) return false;
  if (upload) {
    system('Wait for the current upload to finish', { error: true });
    return false;
  }
  showProgress(name, 0);
  $('voice-btn').disabled = true;
  const job = uploadFile(file, { name, onProgress: (loaded, total) => showProgress(name, total ? loaded / total : 0) });
  upload = job;
  try {
    const stored = await job.promise;
    showProgress(name, 1);
    if (voice) socket.send({ type: 'voice_message', file_id: stored.file_id });
    else socket.send({ type: 'file_upload', file_id: stored.file_id, content: caption });
    if (!socket.open) system(`${name} is sent when the connection is back.`);
    return true;
  } catch (e) {
    if (e.code !== 'ABORTED') system(uploadErrorText(e, name), { error: true });
    else system('Upload cancelled');
    return false;
  } finally {
    upload = null;
    $('voice-btn').disabled = false;
    hideProgress();
  }
}

/** A file picked in `picker`: sent with the message box's text as its caption. */
async function filePicked(picker) {
  const file = picker.files?.[0];
  picker.value = ''; // the same file may be picked again
  if (!file) return;
  const caption = input.value.trim();
  input.value = '';
  const sent = await sendFile(file, { caption });
  if (!sent && caption && !input.value) input.value = caption;
  input.focus();
}

function formatElapsed(ms) {
  const secs = Math.floor(ms / 1000);
  return `${Math.floor(secs / 60)}:${String(secs % 60).padStart(2, '0')}`;
}

function showRecording(on) {
  const button = $('voice-btn');
  $('voice-recording').hidden = !on;
  button.classList.toggle('voice-idle', !on);
  button.classList.toggle('voice-recording', on);
  const label = on ? 'Stop recording and send' : 'Record a voice message';
  button.setAttribute('aria-label', label);
  button.title = label;
  if (!on) $('recording-time').textContent = '0:00';
}

/** Starts recording a voice note from the microphone (WebM, else Ogg, with Opus). */
async function startRecording() {
  if (recording || upload) return;
  const rec = { stream: null, recorder: null, chunks: [], started: 0, timer: null, cancelled: false };
  recording = rec; // a second click while the microphone is asked for does nothing
  try {
    rec.stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (e) {
    recording = null;
    const text = {
      NotAllowedError: 'Microphone access denied',
      SecurityError: 'Microphone access denied',
      NotFoundError: 'No microphone found',
      NotReadableError: 'The microphone is in use by another application',
    }[e?.name] ?? `Could not start recording: ${e?.message ?? e}`;
    system(text, { error: true });
    return;
  }
  if (recording !== rec) {
    // cancelled while the browser asked for the microphone
    rec.stream.getTracks().forEach((t) => t.stop());
    return;
  }
  const type = ['audio/webm;codecs=opus', 'audio/webm', 'audio/ogg;codecs=opus', 'audio/ogg'].find((t) => MediaRecorder.isTypeSupported(t));
  try {
    rec.recorder = new MediaRecorder(rec.stream, type ? { mimeType: type } : undefined);
  } catch (e) {
    recording = null;
    rec.stream.getTracks().forEach((t) => t.stop());
    system(`Could not start recording: ${e.message}`, { error: true });
    return;
  }
  rec.recorder.addEventListener('dataavailable', (e) => {
    if (e.data?.size) rec.chunks.push(e.data);
  });
  rec.recorder.addEventListener('stop', () => finishRecording(rec));
  rec.recorder.addEventListener('error', () => {
    rec.cancelled = true;
    system('Recording failed', { error: true });
  });
  rec.recorder.start();
  rec.started = performance.now();
  const tick = () => {
    const elapsed = performance.now() - rec.started;
    $('recording-time').textContent = formatElapsed(elapsed);
    if (elapsed >= MAX_RECORDING_MS) stopRecording();
  };
  rec.timer = setInterval(tick, 250);
  showRecording(true);
}

/** Stops the recording: the note is sent, or dropped with `cancel`. */
function stopRecording({ cancel = false } = {}) {
  const rec = recording;
  if (!rec) return;
  rec.cancelled ||= cancel;
  if (rec.recorder && rec.recorder.state !== 'inactive') {
    rec.recorder.stop(); // 'stop' follows, with the last data
  } else {
    recording = null;
    clearInterval(rec.timer);
    rec.stream?.getTracks().forEach((t) => t.stop());
    showRecording(false);
  }
}

function finishRecording(rec) {
  clearInterval(rec.timer);
  rec.stream.getTracks().forEach((t) => t.stop()); // the browser's "recording" light goes off
  if (recording === rec) recording = null;
  showRecording(false);
  if (rec.cancelled) return;
  const type = rec.recorder.mimeType || rec.chunks[0]?.type || 'audio/webm';
  const blob = new Blob(rec.chunks, { type });
  if (!blob.size) {
    system('Nothing was recorded', { error: true });
    return;
  }
  sendFile(blob, { name: type.includes('ogg') ? 'voice.ogg' : 'voice.webm', voice: true });
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
  readOnly = true;
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
  userTyping = new TypingSignal((on) => socket.sendLive({ type: 'typing_indicator', metadata: { typing: String(on) } }));
  watchParentToken((token) => socket.refreshToken(token));
  $('input-area').addEventListener('submit', (e) => {
    e.preventDefault();
    sendMessage();
  });
  // The user's typing matters only to an assisting admin; the AI does not watch.
  input.addEventListener('input', () => {
    if (adminName && input.value.trim()) userTyping.input();
    else userTyping.stop();
  });
  helpButton.addEventListener('click', () => {
    socket.send({ type: 'help_request' });
    helpStatus('sending', socket.open ? 'Asking for help...' : 'Help request queued: it is sent when the connection is back.');
    if (!socket.open) system('Help request queued: it is sent when the connection is back.');
  });
  selector.addEventListener('change', () => {
    if (selector.value && selector.value !== modelId) socket.send({ type: 'model_select', model_id: selector.value });
  });
  $('file-upload-btn').addEventListener('click', () => $('file-input').click());
  $('camera-btn').addEventListener('click', () => $('camera-input').click());
  $('file-input').addEventListener('change', (e) => filePicked(e.target));
  $('camera-input').addEventListener('change', (e) => filePicked(e.target));
  $('upload-cancel-btn').addEventListener('click', () => upload?.abort());
  $('voice-btn').addEventListener('click', () => (recording ? stopRecording() : startRecording()));
  $('stop-recording-btn').addEventListener('click', () => stopRecording());
  $('cancel-recording-btn').addEventListener('click', () => {
    stopRecording({ cancel: true });
    $('voice-btn').focus();
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && recording) {
      e.preventDefault();
      stopRecording({ cancel: true });
    }
  });
  $('share-btn').addEventListener('click', share);
  $('share-copy').addEventListener('click', copyShareLink);
  $('share-close').addEventListener('click', () => $('share-dialog').close());
  $('back-btn').addEventListener('click', () => {
    socket.close();
    location.href = 'sessions.html';
  });
  if (getToken()) {
    socket.connect();
  } else {
    setStatus('disconnected', 'No authentication token');
    askParentForToken('request_token');
  }
  input.focus();
}

start();
