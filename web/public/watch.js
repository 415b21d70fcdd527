// The admin's live view of one session (CONTRACT §4, docs/PROTOCOL.md "Roles on one session's
// WebSocket"): a read-only watch (`?mode=watch`, the user is not told) in which the AI reply
// streams token by token; "Take over" sends `admin_join` on the same socket, after which the
// admin writes here and sees the user's typing; "Release" sends `admin_leave`. An ended session
// is shown from its stored history only.
import { ChatSocket, TYPING_EXPIRES_MS, TypingSignal, api } from './api.js';
import { formatTime, messageElement, setContent, systemLine, typingIndicator } from './render.js';

const $ = (id) => document.getElementById(id);

/** Who each sender is, from the admin's side. */
const ADMIN_LABELS = { user: 'User', ai: 'Assistant', admin: 'Support', system: 'System' };

const CHANNEL_LABELS = { smtp: 'email', ses: 'email', sms: 'SMS', webhook: 'support system', log: 'server log' };

export class WatchView {
  /** `me`: the admin's `{user_id, name}` (from the token); `onLeave()` when the admin goes back. */
  constructor({ me, onLeave }) {
    this.me = me;
    this.onLeave = onLeave;
    this.socket = null;
    this.live = false;
    this.sessionId = null;
    this.assistant = null; // {id, name} of the admin assisting, if any
    this.wantTakeover = false;
    this.takeoverOn = true; // unless the server says the feature is off
    this.streaming = null;
    this.typing = null;
    this.typingExpiry = null;
    this.held = null;
    this.pending = [];
    this.messages = $('watch-messages');
    this.input = $('watch-input');
    this.typingSignal = new TypingSignal((on) => this.socket?.sendLive({ type: 'typing_indicator', metadata: { typing: String(on) } }));
    $('watch-takeover-btn').addEventListener('click', () => this.takeOver());
    $('watch-release-btn').addEventListener('click', () => this.release());
    $('watch-back-btn').addEventListener('click', () => this.onLeave());
    $('watch-input-area').addEventListener('submit', (e) => {
      e.preventDefault();
      this.#send();
    });
    this.input.addEventListener('input', () => {
      if (this.#assisting() && this.input.value.trim()) this.typingSignal.input();
      else this.typingSignal.stop();
    });
  }

  /** Opens `id`: live when `active` is not known to be false; `takeOver` joins once attached. */
  async open(id, { active = null, takeOver = false } = {}) {
    this.close();
    this.sessionId = id;
    this.live = active !== false;
    this.wantTakeover = takeOver;
    this.assistant = null;
    this.pending = [];
    this.streaming = null;
    this.#showTyping(false);
    this.messages.replaceChildren();
    $('watch-title').textContent = `Session ${id.slice(0, 8)}`;
    $('watch-meta').textContent = '';
    $('watch-help').hidden = true;
    this.#status('connecting', 'Connecting...');
    this.#render();
    if (active === false) {
      await this.#loadDetail();
      return;
    }
    this.socket = new ChatSocket({
      sessionId: id,
      mode: 'watch',
      onStatus: (state, detail) => this.#onStatus(state, detail),
      onAttach: (frame, how) => this.#onAttach(frame, how),
      onFrame: (frame) => this.#onFrame(frame),
    });
    this.socket.connect();
  }

  /** Leaves the view: an admin who assists releases the session first, so no user waits for them. */
  close() {
    this.typingSignal.stop();
    if (this.socket) {
      if (this.#assisting()) this.socket.send({ type: 'admin_leave' });
      this.socket.close();
    }
    this.socket = null;
    this.live = false;
    this.sessionId = null;
    this.assistant = null;
    document.body.classList.remove('assisting');
  }

  /** A fresh token for the open socket. */
  refreshToken(token) {
    this.socket?.refreshToken(token);
  }

  takeOver() {
    if (!this.socket) return;
    this.wantTakeover = false;
    $('watch-takeover-btn').disabled = true;
    $('watch-state').textContent = 'Taking over...';
    this.socket.send({ type: 'admin_join' });
  }

  release() {
    if (!this.socket || !this.#assisting()) return;
    this.typingSignal.stop();
    $('watch-release-btn').disabled = true;
    this.socket.send({ type: 'admin_leave' });
  }

  #assisting() {
    return this.assistant?.id === this.me.user_id;
  }

  #status(state, text) {
    $('watch-indicator').className = `indicator ${state}`;
    $('watch-status-text').textContent = text;
  }

  #onStatus(state, detail) {
    if (state === 'connecting') this.#status('connecting', 'Connecting...');
    else if (state === 'connected') this.#status('connected', 'Live');
    else if (state === 'reconnecting') this.#status('reconnecting', `Reconnecting in ${detail}s...`);
    else this.#status('disconnected', detail || 'Disconnected');
  }

  /** Buttons, input and the state line follow who assists. */
  #render() {
    const live = this.live;
    const mine = this.#assisting();
    const other = this.assistant && !mine;
    const takeover = $('watch-takeover-btn');
    const release = $('watch-release-btn');
    takeover.hidden = !live || mine || !this.takeoverOn;
    takeover.disabled = Boolean(other);
    release.hidden = !mine;
    release.disabled = false;
    this.input.disabled = !mine;
    $('watch-send-btn').disabled = !mine;
    this.input.placeholder = mine ? 'Write to the user...' : live ? 'Take over to write...' : 'This session has ended';
    let state;
    if (!live) state = 'Ended: stored history (read-only)';
    else if (mine) state = 'You are assisting: the AI is silent until you release. Leaving this view releases the session.';
    else if (other) state = `Assisted by ${this.assistant.name}`;
    else if (!this.takeoverOn) state = 'Watching (read-only): takeover is turned off on this server';
    else state = 'Watching (read-only): the user is not told';
    $('watch-state').textContent = state;
    document.body.classList.toggle('assisting', mine);
  }

  #nearBottom() {
    const m = this.messages;
    return m.scrollHeight - m.scrollTop - m.clientHeight < 80;
  }

  #append(node) {
    const stick = this.#nearBottom();
    if (this.typing?.isConnected) this.messages.insertBefore(node, this.typing);
    else this.messages.append(node);
    if (stick) this.messages.scrollTop = this.messages.scrollHeight;
  }

  #bubble(msg) {
    const adminName = msg.sender === 'admin' ? this.assistant?.name ?? null : null;
    return messageElement(msg, { labels: ADMIN_LABELS, adminName });
  }

  #system(text, opts) {
    this.#append(systemLine(text, opts));
  }

  #showTyping(on, who = 'ai') {
    clearTimeout(this.typingExpiry);
    if (this.typing && (!on || this.typing.dataset.who !== who)) {
      this.typing.remove();
      this.typing = null;
    }
    if (!on) return;
    if (!this.typing) {
      this.typing = typingIndicator(who === 'user' ? 'The user is typing' : 'Assistant is typing', who);
      this.messages.append(this.typing);
      this.messages.scrollTop = this.messages.scrollHeight;
    }
    if (who === 'user') this.typingExpiry = setTimeout(() => this.#showTyping(false), TYPING_EXPIRES_MS);
  }

  async #onAttach(frame, { recovered }) {
    const features = frame.metadata?.features;
    if (typeof features === 'string') this.takeoverOn = features.split(',').map((f) => f.trim()).includes('takeover');
    this.#render();
    if (recovered) return;
    this.held = [];
    await this.#loadDetail();
    const queued = this.held;
    this.held = null;
    for (const f of queued) this.#onFrame(f);
    if (this.wantTakeover && !this.assistant && this.takeoverOn) this.takeOver();
    this.wantTakeover = false;
  }

  /** The session's stored history, takeover trail and help requests. */
  async #loadDetail() {
    const id = this.sessionId;
    let s;
    try {
      s = await api(`/admin/sessions/${encodeURIComponent(id)}`);
    } catch (e) {
      if (id === this.sessionId) this.#system(`Error: could not load the session (${e.message})`, { error: true });
      return;
    }
    if (id !== this.sessionId) return;
    const last = (s.takeovers ?? []).at(-1);
    if (!s.is_active && this.socket) {
      // Ended: nothing live to watch or take over; show the stored history only.
      this.socket.close();
      this.socket = null;
      this.live = false;
    }
    this.assistant = last?.kind === 'join' && this.live ? { id: last.admin_id, name: last.admin_name || last.admin_id } : null;
    $('watch-title').textContent = s.name || `Session ${id.slice(0, 8)}`;
    const started = s.start_time ? new Date(s.start_time).toLocaleString() : '';
    $('watch-meta').textContent = `User ${s.user_id} · started ${started}${s.is_active ? '' : ' · ended'}`;
    if (!this.socket) this.#status('readonly', s.is_active ? 'Not live' : 'Ended');
    this.#showHelp(s);
    this.streaming = null;
    this.#showTyping(false);
    this.messages.replaceChildren(...(s.messages ?? []).map((m) => this.#bubble(m)));
    for (const p of this.pending) this.messages.append(p.node);
    this.messages.scrollTop = this.messages.scrollHeight;
    this.#render();
  }

  /** When the user asked for help, and what became of each staff channel. */
  #showHelp(s) {
    const last = (s.help_requests ?? []).at(-1);
    const at = last?.requested_at ?? s.help_requested_at;
    const line = $('watch-help');
    line.hidden = !at;
    if (!at) return;
    const deliveries = (last?.deliveries ?? [])
      .map((d) => `${CHANNEL_LABELS[d.channel] ?? d.channel} ${d.state}`)
      .join(' · ');
    line.textContent = `Help requested at ${formatTime(at)}: ${deliveries || 'no staff channel was notified'}`;
  }

  #onFrame(frame) {
    if (this.held) {
      this.held.push(frame);
      return;
    }
    const meta = frame.metadata ?? {};
    switch (frame.type) {
      case 'ai_response':
        this.#aiFrame(frame, meta);
        break;
      case 'loading':
        this.#showTyping(true, 'ai');
        break;
      case 'user_message':
      case 'file_upload':
      case 'voice_message':
        this.#userFrame(frame);
        break;
      case 'admin_join':
        this.assistant = { id: meta.admin_id, name: meta.admin_name || meta.admin_id || 'Admin' };
        if (this.typing?.dataset.who === 'ai') this.#showTyping(false);
        this.#system(frame.content || `${this.assistant.name} has joined`, { kind: 'admin-event' });
        this.#render();
        if (this.#assisting()) this.input.focus();
        break;
      case 'admin_leave':
        this.assistant = null;
        this.typingSignal.stop();
        if (this.typing?.dataset.who === 'user') this.#showTyping(false);
        this.#system(frame.content || 'The admin has left', { kind: 'admin-event' });
        this.#render();
        break;
      case 'typing_indicator':
        if (frame.sender === 'user') this.#showTyping(meta.typing === 'true', 'user');
        break;
      case 'notification':
        if (frame.content) this.#system(frame.content, { kind: 'notice' });
        break;
      case 'error':
        if (this.typing?.dataset.who === 'ai') this.#showTyping(false);
        this.#system(`Error: ${frame.error?.message || 'An error occurred'}`, { error: true });
        this.#render();
        break;
      default:
        break;
    }
  }

  #aiFrame(frame, meta) {
    if (meta.streaming !== 'true') {
      this.#showTyping(false);
      this.#append(this.#bubble(frame));
      return;
    }
    if (frame.content) {
      if (this.typing?.dataset.who === 'ai') this.#showTyping(false);
      if (!this.streaming) {
        this.streaming = { node: this.#bubble({ ...frame, content: '' }), text: '' };
        this.streaming.node.setAttribute('aria-busy', 'true');
        this.#append(this.streaming.node);
      }
      const stick = this.#nearBottom();
      this.streaming.text += frame.content;
      setContent(this.streaming.node, this.streaming.text);
      if (stick) this.messages.scrollTop = this.messages.scrollHeight;
    }
    if (meta.done === 'true') {
      if (this.typing?.dataset.who === 'ai') this.#showTyping(false);
      if (this.streaming) {
        this.streaming.node.dataset.done = 'true';
        this.streaming.node.removeAttribute('aria-busy');
        if (meta.cancelled) this.streaming.node.dataset.cancelled = meta.cancelled;
      }
      this.streaming = null;
    }
  }

  #userFrame(frame) {
    if (frame.sender === 'admin' && this.pending.length && this.pending[0].content === frame.content) {
      this.pending.shift().node.classList.remove('pending');
      return;
    }
    if (frame.sender === 'user' && this.typing?.dataset.who === 'user') this.#showTyping(false);
    this.#append(this.#bubble(frame));
  }

  #send() {
    const content = this.input.value.trim();
    if (!content || !this.socket || !this.#assisting()) return;
    this.typingSignal.stop();
    const node = this.#bubble({ sender: 'admin', content, timestamp: new Date().toISOString() });
    node.classList.add('pending');
    this.pending.push({ node, content });
    this.#append(node);
    this.messages.scrollTop = this.messages.scrollHeight;
    this.socket.send({ type: 'user_message', content });
    this.input.value = '';
    this.input.focus();
  }
}
