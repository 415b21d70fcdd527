// Chatbox message rendering, shared by the pages. Untrusted text only ever reaches the DOM through
// textContent and element constructors: markdown is parsed here into elements, never into HTML.
// Files are fetched with the token in a header and shown from blob: URLs (see api.js).
import { fileObjectUrl } from './api.js';

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function safeHref(raw) {
  try {
    const url = new URL(raw, location.href);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}

// `code`, **bold**, *em* / _em_, [text](http…), bare http(s) links.
const INLINE = /(`+)([\s\S]*?[^`])\1(?!`)|\*\*([\s\S]+?)\*\*|\*([^*\s](?:[^*]*[^*\s])?)\*|\b_([^_\s](?:[^_]*[^_\s])?)_\b|\[([^\]\n]+)\]\(([^)\s]+)\)|(https?:\/\/[^\s<>()]+[^\s<>().,;:!?'"])/g;

function inline(parent, text) {
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    if (m.index > last) parent.append(text.slice(last, m.index));
    last = m.index + m[0].length;
    if (m[1]) {
      parent.append(el('code', null, m[2]));
    } else if (m[3] !== undefined) {
      const strong = el('strong');
      inline(strong, m[3]);
      parent.append(strong);
    } else if (m[4] !== undefined || m[5] !== undefined) {
      const em = el('em');
      inline(em, m[4] ?? m[5]);
      parent.append(em);
    } else if (m[6] !== undefined) {
      const href = safeHref(m[7]);
      if (href) parent.append(link(href, m[6]));
      else parent.append(m[0]);
    } else if (m[8] !== undefined) {
      const href = safeHref(m[8]);
      parent.append(href ? link(href, m[8]) : m[8]);
    }
  }
  if (last < text.length) parent.append(text.slice(last));
}

function link(href, text) {
  const a = el('a', null, text);
  a.href = href;
  a.target = '_blank';
  a.rel = 'noopener noreferrer';
  return a;
}

const FENCE = /^\s*(```|~~~)/;
const BULLET = /^\s*[-*+]\s+(.*)$/;
const NUMBERED = /^\s*\d{1,9}[.)]\s+(.*)$/;
const HEADING = /^(#{1,6})\s+(.*)$/;

/** Renders a small, safe subset of markdown into a DocumentFragment. */
export function renderMarkdown(source) {
  const out = document.createDocumentFragment();
  const lines = String(source ?? '').replace(/\r\n?/g, '\n').split('\n');
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    const fence = line.match(FENCE);
    if (fence) {
      const body = [];
      i += 1;
      while (i < lines.length && !lines[i].trim().startsWith(fence[1])) body.push(lines[i++]);
      i += 1; // closing fence (or end of text while streaming)
      const pre = el('pre');
      pre.append(el('code', null, body.join('\n')));
      out.append(pre);
      continue;
    }
    if (!line.trim()) {
      i += 1;
      continue;
    }
    const heading = line.match(HEADING);
    if (heading) {
      const h = el(`h${Math.min(6, heading[1].length + 2)}`);
      inline(h, heading[2]);
      out.append(h);
      i += 1;
      continue;
    }
    const listKind = BULLET.test(line) ? [BULLET, 'ul'] : NUMBERED.test(line) ? [NUMBERED, 'ol'] : null;
    if (listKind) {
      const [pattern, tag] = listKind;
      const list = el(tag);
      while (i < lines.length && pattern.test(lines[i])) {
        const li = el('li');
        inline(li, lines[i].match(pattern)[1]);
        list.append(li);
        i += 1;
      }
      out.append(list);
      continue;
    }
    const p = el('p');
    let first = true;
    while (
      i < lines.length && lines[i].trim() && !FENCE.test(lines[i]) && !HEADING.test(lines[i]) &&
      !BULLET.test(lines[i]) && !NUMBERED.test(lines[i])
    ) {
      if (!first) p.append(el('br'));
      inline(p, lines[i]);
      first = false;
      i += 1;
    }
    out.append(p);
  }
  return out;
}

/** "14:05" for an RFC 3339 time. */
export function formatTime(ts) {
  const d = ts ? new Date(ts) : new Date();
  if (Number.isNaN(d.getTime())) return '';
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** "Just now", "5 mins ago", "2 hours ago", "3 days ago", else a short date. */
export function relativeTime(ts, now = Date.now()) {
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return '';
  const mins = Math.floor((now - d.getTime()) / 60_000);
  if (mins < 1) return 'Just now';
  if (mins < 60) return `${mins} min${mins === 1 ? '' : 's'} ago`;
  const hours = Math.floor(mins / 60);
  if (hours < 24) return `${hours} hour${hours === 1 ? '' : 's'} ago`;
  const days = Math.floor(hours / 24);
  if (days < 7) return `${days} day${days === 1 ? '' : 's'} ago`;
  return d.toLocaleDateString([], { month: 'short', day: 'numeric', year: 'numeric' });
}

/** "512 B", "12 KB", "1.4 MB", "2 GB". */
export function formatSize(bytes) {
  const n = Number(bytes);
  if (!Number.isFinite(n) || n < 0) return '';
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u += 1;
  }
  const shown = v < 10 && !Number.isInteger(v) ? v.toFixed(1).replace(/\.0$/, '') : String(Math.round(v));
  return `${shown} ${units[u]}`;
}

/** Image types shown as thumbnails (what the server accepts as images). */
const THUMBNAIL_TYPES = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp']);
/** Larger images are offered as a download only, not fetched on sight. */
const THUMBNAIL_MAX_BYTES = 10 * 1024 * 1024;

/** What became of a voice note's transcript (`metadata.transcript`), when there is none. */
const UNTRANSCRIBED = { off: 'Not transcribed', failed: 'Transcription failed' };

/** Saves the bytes behind `blobUrl` as `name` (an `a[download]` click). */
function saveAs(blobUrl, name) {
  const a = document.createElement('a');
  a.href = blobUrl;
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
}

/** A document icon (inline SVG, hidden from screen readers). */
function fileIcon() {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  const attrs = {
    class: 'icon file-icon', 'aria-hidden': 'true', focusable: 'false', viewBox: '0 0 24 24', width: '18', height: '18',
    fill: 'none', stroke: 'currentColor', 'stroke-width': '2', 'stroke-linecap': 'round', 'stroke-linejoin': 'round',
  };
  for (const [k, v] of Object.entries(attrs)) svg.setAttribute(k, v);
  for (const d of ['M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8z', 'M14 3v5h5', 'M12 11v6M9.5 14.5 12 17l2.5-2.5']) {
    const path = document.createElementNS(ns, 'path');
    path.setAttribute('d', d);
    svg.append(path);
  }
  return svg;
}

/**
 * The download button of a file: an icon, its name and size. The bytes are fetched on the first click
 * (with the token in a header), then saved under the file's name.
 */
function downloadButton(msg, name, size) {
  const wrap = el('span', 'file-download');
  const button = el('button', 'file-link');
  button.type = 'button';
  button.append(el('span', 'visually-hidden', 'Download '), fileIcon(), el('span', 'file-name', name));
  if (size) button.append(el('span', 'file-size', ` (${size})`));
  const status = el('span', 'file-error');
  status.setAttribute('role', 'status');
  button.addEventListener('click', async () => {
    button.setAttribute('aria-busy', 'true');
    status.textContent = '';
    try {
      saveAs(await fileObjectUrl(msg.file_url), name);
    } catch (e) {
      status.textContent = `Download failed: ${e.message}`;
    } finally {
      button.removeAttribute('aria-busy');
    }
  });
  wrap.append(button, status);
  return wrap;
}

/**
 * A file message's attachment (`div.message-file`): a voice note's player, an image's thumbnail
 * (a link to the full image) or a download button, from `metadata` (`file_name`, `file_size`,
 * `mime_type`, and `transcript` on voice notes). Thumbnails and voice notes are fetched at once.
 * Without `fetch` (a shared view, which has no token) only the name and size are shown.
 */
function fileElement(msg, fetch = true) {
  const meta = msg.metadata ?? {};
  const name = meta.file_name || 'file';
  const bytes = Number.parseInt(meta.file_size ?? '', 10);
  const size = Number.isFinite(bytes) ? formatSize(bytes) : '';
  const voice = msg.type === 'voice_message' || 'transcript' in meta;
  const box = el('div', 'message-file');
  box.dataset.fileName = name;
  if (!fetch) {
    box.classList.add('unavailable');
    const label = el('span', 'file-label');
    label.append(fileIcon(), el('span', 'file-name', voice ? 'Voice message' : name));
    if (size) label.append(el('span', 'file-size', ` (${size})`));
    box.append(label);
    return box;
  }
  if (voice) {
    box.classList.add('voice');
    const audio = el('audio');
    audio.controls = true;
    audio.preload = 'metadata';
    audio.setAttribute('aria-label', `Voice message${size ? ` (${size})` : ''}`);
    box.append(audio);
    const note = UNTRANSCRIBED[meta.transcript];
    if (note) box.append(el('span', 'voice-note', note));
    fileObjectUrl(msg.file_url).then(
      (url) => { audio.src = url; },
      (e) => box.append(el('span', 'file-error', `Voice message unavailable: ${e.message}`)),
    );
    return box;
  }
  if (THUMBNAIL_TYPES.has(meta.mime_type) && !(bytes > THUMBNAIL_MAX_BYTES)) {
    box.classList.add('image');
    const thumb = el('a', 'file-thumb');
    thumb.target = '_blank';
    thumb.rel = 'noopener noreferrer';
    const img = el('img');
    img.alt = name;
    img.decoding = 'async';
    thumb.append(img);
    const loading = el('span', 'file-loading', 'Loading image…');
    box.append(thumb, loading, downloadButton(msg, name, size));
    fileObjectUrl(msg.file_url).then(
      (url) => {
        img.src = url;
        thumb.href = url;
        thumb.title = `Open ${name}`;
        loading.remove();
      },
      (e) => {
        thumb.remove();
        loading.className = 'file-error';
        loading.textContent = `Image unavailable: ${e.message}`;
      },
    );
    return box;
  }
  box.append(downloadButton(msg, name, size));
  return box;
}

/** Who each sender is, as the user sees it (the admin's view passes its own). */
export const USER_LABELS = { user: 'You', ai: 'Assistant', admin: 'Support', system: 'System' };

/**
 * A message bubble: `div.message.<sender>` with `.message-content` and `.message-timestamp`.
 * `labels` names the senders for screen readers; an admin's message also shows `adminName`.
 */
export function messageElement(msg, { labels = USER_LABELS, adminName = null, files = true } = {}) {
  const sender = labels[msg.sender] ? msg.sender : 'system';
  const node = el('div', `message ${sender}`);
  if (sender === 'admin') {
    node.append(el('div', 'message-sender', adminName ? `${adminName} · ${labels.admin}` : labels.admin));
  } else {
    node.append(el('span', 'visually-hidden', `${labels[sender]}: `));
  }
  const file = msg.file_url ? fileElement(msg, files) : null;
  if (file) node.append(file);
  const content = el('div', 'message-content');
  node.append(content);
  setContent(node, msg.content ?? '');
  const time = el('time', 'message-timestamp', formatTime(msg.timestamp));
  if (msg.timestamp) time.dateTime = msg.timestamp;
  node.append(time);
  return node;
}

/** Replaces a bubble's content (user text stays plain; others are markdown). */
export function setContent(node, text) {
  const content = node.querySelector('.message-content');
  if (node.classList.contains('user')) content.textContent = text;
  else content.replaceChildren(renderMarkdown(text));
}

/** A system line (`div.message.system`, `.error` for errors, `kind` as a further class). */
export function systemLine(text, { error = false, kind = null } = {}) {
  const node = el('div', `message system${error ? ' error' : ''}${kind ? ` ${kind}` : ''}`);
  node.append(el('div', 'message-content', text));
  if (error) node.setAttribute('role', 'alert');
  return node;
}

/** The typing dots (`div.typing-indicator`, not a `.message`); `who` is `ai`, `admin` or `user`. */
export function typingIndicator(label = 'Assistant is typing', who = 'ai') {
  const node = el('div', `typing-indicator ${who}`);
  node.setAttribute('aria-label', label);
  node.setAttribute('role', 'status');
  node.dataset.who = who;
  node.append(el('span'), el('span'), el('span'));
  return node;
}
