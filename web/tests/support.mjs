// Test support: the real server binary, a fake OpenAI-compatible vendor, JWTs, a parent page
// server on a second origin, and Debian's Chromium driven by playwright-core.
import { spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const SECRET = randomBytes(32).toString('base64url');

const REPO = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Where the tests write their screenshots: `$CHATBOX_SCREENSHOTS_DIR`, else `screenshots/` in
 * the cargo target directory. Never the tracked docs/screenshots/: `cargo xtask screenshots`
 * copies them there.
 */
export function screenshotsDir() {
  const dir = process.env.CHATBOX_SCREENSHOTS_DIR ||
    join(process.env.CARGO_TARGET_DIR || join(REPO, 'target'), 'screenshots');
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** An HS256 JWT for `user` signed with SECRET. */
export function token(user, { roles = [], ttlSecs = 3600, name = user } = {}) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const head = b64({ alg: 'HS256', typ: 'JWT' });
  const body = b64({ user_id: user, name, roles, exp: Math.floor(Date.now() / 1000) + ttlSecs });
  const sig = createHmac('sha256', SECRET).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

async function listen(server) {
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server.address().port;
}

/**
 * A fake OpenAI-compatible vendor. Each path prefix (`/alpha`, `/beta`) is one provider; every
 * chat request is recorded. The reply is chosen by `script(provider, lastUserText, body)`, which
 * returns `{chunks: [..], delayMs}`.
 */
export async function fakeVendor(script) {
  const requests = [];
  const server = createServer((req, res) => {
    const [, provider, ...rest] = req.url.split('/');
    const path = `/${rest.join('/')}`;
    if (req.method === 'GET' && path === '/models') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"object":"list","data":[]}');
      return;
    }
    if (req.method !== 'POST' || path !== '/chat/completions') {
      res.writeHead(404).end();
      return;
    }
    let raw = '';
    req.on('data', (c) => { raw += c; });
    req.on('end', async () => {
      const body = JSON.parse(raw);
      requests.push({ provider, body });
      const users = body.messages.filter((m) => m.role === 'user');
      const last = users.at(-1)?.content ?? '';
      const { chunks, delayMs = 20 } = script(provider, typeof last === 'string' ? last : JSON.stringify(last), body);
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
      for (const content of chunks) {
        if (res.destroyed) return;
        res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content } }] })}\n\n`);
        await sleep(delayMs);
      }
      res.write(`data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 10, completion_tokens: chunks.length } })}\n\n`);
      res.end('data: [DONE]\n\n');
    });
  });
  const port = await listen(server);
  return { port, requests, url: (p) => `http://127.0.0.1:${port}/${p}`, close: () => server.close() };
}

/**
 * Serves pages on a second origin, for iframes: path → html, or path → `(url) => {type, body}`
 * for a computed answer (settable later via `.pages`).
 */
export async function pageServer(pages) {
  const handle = { pages };
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const page = handle.pages[url.pathname];
    if (!page) return res.writeHead(404).end();
    const { type = 'text/html; charset=utf-8', body } = typeof page === 'function' ? page(url) : { body: page };
    res.writeHead(200, { 'Content-Type': type, 'Cache-Control': 'no-store' });
    res.end(body);
  });
  handle.port = await listen(server);
  handle.close = () => server.close();
  return handle;
}

async function freePort() {
  const s = createServer();
  const port = await listen(s);
  await new Promise((r) => s.close(r));
  return port;
}

/**
 * Starts the real server binary with `env` (with `dev`, nothing else: dev mode, which prints its
 * links); resolves once `P/healthz` answers.
 */
export async function startServer(env, { dev = false } = {}) {
  const bin = process.env.CHATBOX_SERVER_BIN ||
    join(process.env.CARGO_TARGET_DIR || join(process.cwd(), '..', 'target'), 'debug', 'chatbox-server');
  const dir = mkdtempSync(join(tmpdir(), 'chatbox-web-'));
  const port = await freePort();
  const logPath = join(dir, 'server.log');
  const log = openSync(logPath, 'w');
  const child = spawn(bin, [], {
    cwd: dir,
    env: {
      PATH: process.env.PATH,
      RUST_LOG: 'warn',
      SERVER_PORT: String(port),
      ...(dev ? {} : { CHATBOX_DATA_DIR: join(dir, 'data'), JWT_SECRET: SECRET }),
      ...env,
    },
    stdio: ['ignore', log, log],
  });
  let exited = null;
  child.on('exit', (code) => { exited = code; });
  child.on('error', (e) => { exited = `${e.message}; build it (cargo build -p chatbox-server) or set CHATBOX_SERVER_BIN`; });
  const base = `http://127.0.0.1:${port}`;
  const output = () => readFileSync(logPath, 'utf8');
  for (let i = 0; ; i += 1) {
    if (exited !== null) throw new Error(`server exited (${exited}):\n${output()}`);
    try {
      const r = await fetch(`${base}/chatbox/healthz`);
      if (r.ok) break;
    } catch { /* not up yet */ }
    if (i > 600) throw new Error(`server not healthy:\n${output()}`);
    await sleep(50);
  }
  return {
    base,
    origin: base,
    output,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (exited !== null ? r() : child.on('exit', r)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Debian's Chromium, headless, with a fresh profile (never a downloaded browser); `args` adds
 * switches (e.g. the fake microphone).
 */
export async function launchBrowser({ args = [] } = {}) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_BIN || '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ...args,
    ],
  });
}

/**
 * Records every WebSocket the page opens (window.__sockets), so a test can cut the network, and
 * every frame it sends (window.__sent). With window.__blockWs set, new sockets go to a path that
 * refuses the upgrade (the network stays down); with window.__forgetReplay set, a resume asks
 * for frames the server cannot have (it must answer recovered="false").
 */
export const SOCKET_SPY = `(() => {
  const Native = window.WebSocket;
  window.__sockets = [];
  window.__sent = [];
  window.WebSocket = class extends Native {
    constructor(url, ...rest) {
      let u = String(url);
      if (window.__blockWs) u = u.replace('/ws?', '/blocked?');
      else if (window.__forgetReplay) u = u.replace(/last_seq=\\d+/, 'last_seq=999999');
      super(u, ...rest);
      window.__sockets.push(this);
    }
    send(data) { window.__sent.push(String(data)); return super.send(data); }
  };
})();`;
