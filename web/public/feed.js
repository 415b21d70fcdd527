// The admins' event feed (docs/PROTOCOL.md, "Admins' event feed"): one WebSocket
// `P/ws?mode=events` carrying `session_event` frames, so the dashboard needs no polling to see a
// session created, asking for help, taken over, released or ended. It reconnects with jittered
// backoff; after any gap (a reconnect, or a 1013 close because it lagged) the page is told to
// reload its lists, since events in the gap are lost.
import { askParentForToken, getToken, tokenExpiry, wsUrl } from './api.js';

export class EventFeed {
  /**
   * `onEvent(frame)` for each `session_event`; `onStatus(state, detail)` with state
   * `connecting`, `live` (detail: true after a gap), `reconnecting` (detail: seconds) or
   * `offline`.
   */
  constructor({ onEvent, onStatus }) {
    this.onEvent = onEvent;
    this.onStatus = onStatus;
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.stopped = true;
    this.everLive = false;
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.#connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.ws?.close(1000, 'bye');
    this.ws = null;
  }

  #connect() {
    const token = getToken();
    if (!token) {
      this.onStatus('offline', 'No authentication token');
      return;
    }
    const ws = new WebSocket(wsUrl({ token, mode: 'events' }));
    this.ws = ws;
    this.onStatus('connecting');
    ws.onmessage = (event) => {
      if (ws !== this.ws) return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame.type === 'notification' && frame.metadata?.feed === 'events') {
        this.attempt = 0;
        this.onStatus('live', this.everLive);
        this.everLive = true;
      } else if (frame.type === 'session_event') {
        this.onEvent(frame);
      }
    };
    ws.onclose = (event) => {
      if (ws !== this.ws) return;
      this.ws = null;
      if (this.stopped) return;
      const exp = tokenExpiry(getToken() ?? '');
      if (event.code === 4001 || (exp && exp <= Date.now())) askParentForToken('refresh_token');
      const base = event.code === 1013 ? 250 : Math.min(30_000, 1000 * 2 ** this.attempt);
      const delay = Math.round(base * (0.5 + Math.random() * 0.5));
      this.attempt += 1;
      this.onStatus('reconnecting', Math.ceil(delay / 1000));
      this.timer = setTimeout(() => this.#connect(), delay);
    };
  }
}
