// Chatbox message rendering, shared by the pages. Untrusted text only ever reaches the DOM through
// textContent and element constructors: markdown is parsed here into elements, never into HTML.

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

/** Who each sender is, as the user sees it (the admin's view passes its own). */
export const USER_LABELS = { user: 'You', ai: 'Assistant', admin: 'Support', system: 'System' };

/**
 * A message bubble: `div.message.<sender>` with `.message-content` and `.message-timestamp`.
 * `labels` names the senders for screen readers; an admin's message also shows `adminName`.
 */
export function messageElement(msg, { labels = USER_LABELS, adminName = null } = {}) {
  const sender = labels[msg.sender] ? msg.sender : 'system';
  const node = el('div', `message ${sender}`);
  if (sender === 'admin') {
    node.append(el('div', 'message-sender', adminName ? `${adminName} · ${labels.admin}` : labels.admin));
  } else {
    node.append(el('span', 'visually-hidden', `${labels[sender]}: `));
  }
  const content = el('div', 'message-content');
  node.append(content);
  setContent(node, msg.content ?? '');
  const href = msg.file_url && safeHref(msg.file_url);
  if (href) {
    const file = el('div', 'message-file');
    const a = link(href, '📎 View file');
    file.append(a);
    node.append(file);
  }
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
