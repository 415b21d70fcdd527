// Browser tests of the chat and sessions pages: the real server binary, a fake OpenAI-compatible
// vendor with two providers, Debian's Chromium. Also writes screenshots (see screenshotsDir).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { SOCKET_SPY, fakeVendor, launchBrowser, pageServer, screenshotsDir, startServer, token } from './support.mjs';

const SHOTS = screenshotsDir();
const shot = (name) => join(SHOTS, name);
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const SLOW = Array.from({ length: 16 }, (_, i) => `part${i + 1} `);
const XSS = [
  'Here: <img src=x onerror="window.__pwned=1"> and **bold** and *calm* and `code` ',
  'with [bad](javascript:window.__pwned=2) and [docs](https://example.com/docs)\n\n',
  '```\n<script>window.__pwned=3</script>\n```\n\n- item one\n- item two\n',
];

let vendor;
let parents;
let server;
let browser;
const user = token('alice');
const errors = [];
let chat; // the page the first tests share
let sessionId;

function script(provider, last) {
  const name = provider === 'beta' ? 'Beta' : 'Alpha';
  if (last.includes('slow')) return { chunks: SLOW, delayMs: 150 };
  if (last.includes('xss')) return { chunks: XSS, delayMs: 20 };
  return { chunks: [`${name} `, 'reply to: ', last], delayMs: 40 };
}

async function newPage(viewport = DESKTOP) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push(String(e)));
  // The pages must run under their policy: no inline script or style, nothing from elsewhere.
  page.on('console', (m) => {
    const t = m.text();
    if (/Content Security Policy|Refused to/.test(t) && !/frame-ancestors|Refused to (display|frame)/.test(t)) errors.push(t);
  });
  await page.addInitScript(SOCKET_SPY);
  return page;
}

const aiDone = (page) => page.locator('.message.ai[data-done="true"]');

async function send(page, text) {
  const before = await aiDone(page).count();
  await page.fill('#message-input', text);
  await page.press('#message-input', 'Enter');
  await page.waitForFunction((n) => document.querySelectorAll('.message.ai[data-done="true"]').length > n, before);
  return (await aiDone(page).last().locator('.message-content').textContent()).trim();
}

before(async () => {
  vendor = await fakeVendor(script);
  parents = await pageServer({});
  const parentOrigin = `http://127.0.0.1:${parents.port}`;
  server = await startServer({
    PARENT_ORIGINS: parentOrigin,
    LLM_PROVIDER_1_ID: 'alpha',
    LLM_PROVIDER_1_NAME: 'Alpha',
    LLM_PROVIDER_1_TYPE: 'openai',
    LLM_PROVIDER_1_ENDPOINT: vendor.url('alpha'),
    LLM_PROVIDER_1_API_KEY: 'sk-alpha',
    LLM_PROVIDER_1_MODEL: 'alpha-model',
    LLM_PROVIDER_2_ID: 'beta',
    LLM_PROVIDER_2_NAME: 'Beta',
    LLM_PROVIDER_2_TYPE: 'openai',
    LLM_PROVIDER_2_ENDPOINT: vendor.url('beta'),
    LLM_PROVIDER_2_API_KEY: 'sk-beta',
    LLM_PROVIDER_2_MODEL: 'beta-model',
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  vendor?.close();
  parents?.close();
});

test('pages are served with a strict policy, ETags and the allowed parents', async () => {
  const res = await fetch(`${server.base}/chatbox/chat.html`);
  assert.equal(res.status, 200);
  const csp = res.headers.get('content-security-policy');
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, new RegExp(`frame-ancestors http://127\\.0\\.0\\.1:${parents.port}`));
  assert.equal(res.headers.get('cache-control'), 'no-cache');
  const again = await fetch(`${server.base}/chatbox/chat.html`, { headers: { 'If-None-Match': res.headers.get('etag') } });
  assert.equal(again.status, 304);
  const home = await fetch(`${server.base}/chatbox?token=abc`, { redirect: 'manual' });
  assert.equal(home.status, 302);
  assert.equal(home.headers.get('location'), '/chatbox/sessions.html?token=abc');
});

test('a user opens the link and sees the streamed reply; the token leaves the address bar', async () => {
  chat = await newPage();
  await chat.goto(`${server.base}/chatbox/chat.html?token=${user}`);
  await chat.waitForFunction(() => document.getElementById('status-text').textContent === 'Connected');
  const url = new URL(chat.url());
  assert.equal(url.searchParams.get('token'), null, 'token removed from the address bar');
  sessionId = url.searchParams.get('session_id');
  assert.ok(sessionId, 'the session is remembered in the URL');
  assert.equal(await chat.evaluate(() => sessionStorage.getItem('jwt_token')), user);
  assert.equal(await send(chat, 'hello there'), 'Alpha reply to: hello there');
  assert.equal(await chat.locator('.message.user').count(), 1, 'the user message is shown once');
  assert.equal(await chat.locator('.typing-indicator').count(), 0, 'typing dots gone after the reply');
});

test('a second message carries the history to the model', async () => {
  assert.equal(await send(chat, 'and again'), 'Alpha reply to: and again');
  const last = vendor.requests.at(-1);
  assert.equal(last.provider, 'alpha');
  const turns = last.body.messages.filter((m) => m.role !== 'system').map((m) => [m.role, m.content]);
  assert.deepEqual(turns, [
    ['user', 'hello there'],
    ['assistant', 'Alpha reply to: hello there'],
    ['user', 'and again'],
  ]);
});

test('switching the model sends model_select and the other provider answers', async () => {
  await chat.waitForSelector('#model-selector-container:not([hidden])');
  assert.equal(await chat.inputValue('#model-selector'), 'alpha');
  await chat.selectOption('#model-selector', 'beta');
  await chat.waitForSelector('.message.system >> text=Switched to Beta');
  assert.equal(await chat.textContent('#current-model'), 'Model: Beta');
  assert.equal(await send(chat, 'which model?'), 'Beta reply to: which model?');
  assert.equal(vendor.requests.at(-1).provider, 'beta');
});

test('a connection cut mid-reply resumes and shows the full reply exactly once', async () => {
  const requests = vendor.requests.length;
  const before = await aiDone(chat).count();
  await chat.fill('#message-input', 'tell me a slow story');
  await chat.press('#message-input', 'Enter');
  await chat.waitForFunction(() => document.querySelector('.message.ai:last-of-type')?.textContent.includes('part2 '));
  const cut = await chat.evaluate(() => {
    const open = window.__sockets.filter((s) => s.readyState === WebSocket.OPEN);
    open.forEach((s) => s.close());
    return open.length;
  });
  assert.equal(cut, 1);
  await chat.waitForFunction(() => /Reconnecting|Connecting/.test(document.getElementById('status-text').textContent));
  await chat.waitForFunction((n) => document.querySelectorAll('.message.ai[data-done="true"]').length > n, before);
  await chat.waitForFunction(() => document.getElementById('status-text').textContent === 'Connected');
  const text = (await aiDone(chat).last().locator('.message-content').textContent()).trim();
  assert.equal(text, SLOW.join('').trim(), 'every chunk once, in order');
  const body = await chat.textContent('#messages-container');
  assert.equal(body.split('part16').length - 1, 1, 'the reply is shown once');
  assert.equal(vendor.requests.length, requests + 1, 'the reply continued; it was not asked again');
  const resumed = await chat.evaluate(() => window.__sockets.at(-1).url);
  assert.match(resumed, /session_id=.*last_seq=\d+/);
});

test('when the server cannot replay (recovered="false") the page reloads the history once', async () => {
  const erin = token('erin');
  const a = await newPage();
  await a.goto(`${server.base}/chatbox/chat.html?token=${erin}`);
  assert.equal(await send(a, 'first'), 'Alpha reply to: first');
  const sid = new URL(a.url()).searchParams.get('session_id');
  await a.evaluate(() => {
    window.__blockWs = true;
    window.__sockets.forEach((s) => s.close());
  });
  await a.waitForFunction(() => /Reconnecting/.test(document.getElementById('status-text').textContent));
  const b = await newPage(); // the same user on another device, while the first is offline
  await b.goto(`${server.base}/chatbox/chat.html?token=${erin}&session_id=${sid}`);
  assert.equal(await send(b, 'second'), 'Alpha reply to: second');
  await b.context().close();
  await a.evaluate(() => {
    window.__blockWs = false;
    window.__forgetReplay = true;
  });
  await a.waitForFunction(() => document.querySelectorAll('.message.ai').length === 2, null, { timeout: 20_000 });
  await a.waitForFunction(() => document.getElementById('status-text').textContent === 'Connected');
  const users = await a.locator('.message.user .message-content').allTextContents();
  const ais = await a.locator('.message.ai .message-content').allTextContents();
  assert.deepEqual(users, ['first', 'second']);
  assert.deepEqual(ais.map((t) => t.trim()), ['Alpha reply to: first', 'Alpha reply to: second']);
  assert.match(await a.evaluate(() => window.__sockets.at(-1).url), /last_seq=999999/);
  await a.context().close();
});

test('HTML from the model or the user is shown as text; markdown renders safely', async () => {
  await send(chat, 'xss please <b>bold?</b> <img src=x onerror="window.__pwned=4">');
  const bubble = aiDone(chat).last();
  assert.equal(await chat.evaluate(() => window.__pwned), undefined, 'no script ran');
  assert.equal(await chat.locator('#messages-container img, #messages-container script, #messages-container b').count(), 0);
  const content = await bubble.locator('.message-content').textContent();
  assert.ok(content.includes('<img src=x onerror="window.__pwned=1">'), content);
  assert.equal(await bubble.locator('strong').textContent(), 'bold');
  assert.equal(await bubble.locator('em').textContent(), 'calm');
  assert.equal(await bubble.locator('pre code').textContent(), '<script>window.__pwned=3</script>');
  assert.equal(await bubble.locator('ul li').count(), 2);
  const links = await bubble.locator('a').evaluateAll((as) => as.map((a) => [a.href, a.rel]));
  assert.deepEqual(links, [['https://example.com/docs', 'noopener noreferrer']]);
  const userText = await chat.locator('.message.user').last().locator('.message-content').textContent();
  assert.ok(userText.includes('<b>bold?</b>'));
  await chat.screenshot({ path: shot('chat-desktop.png') });
  const phone = await newPage(PHONE);
  await phone.goto(`${server.base}/chatbox/chat.html?token=${user}&session_id=${sessionId}`);
  await phone.waitForFunction(() => document.querySelectorAll('.message.ai').length >= 5);
  await phone.screenshot({ path: shot('chat-phone.png') });
  await phone.context().close();
});

test('the sessions page lists the conversation and opens it with its history', async () => {
  const page = await newPage();
  await page.goto(`${server.base}/chatbox/sessions.html?token=${user}`);
  await page.waitForSelector('.session-item');
  assert.equal(new URL(page.url()).searchParams.get('token'), null);
  const item = page.locator('.session-item').first();
  assert.equal(await item.locator('.session-name').textContent(), 'hello there');
  assert.equal(await item.locator('.session-timestamp').textContent(), 'Just now');
  assert.match(await item.locator('.session-messages').textContent(), /^1\d messages$/);
  assert.equal(await page.isVisible('#new-session-btn'), true);
  await item.click();
  await page.waitForURL(/chat\.html\?session_id=/);
  await page.waitForFunction(() => document.querySelectorAll('.message.ai').length >= 5);
  assert.equal(await page.locator('.message.user').first().locator('.message-content').textContent(), 'hello there');
  await page.context().close();
});

test('the sessions page shows its empty, unauthenticated and error states', async () => {
  const page = await newPage(PHONE);
  await page.goto(`${server.base}/chatbox/sessions.html?token=${token('newcomer')}`);
  await page.waitForSelector('#empty-state:not([hidden])');
  assert.equal(await page.isVisible('#empty-state .primary-btn'), true, 'start-first-chat offered');
  assert.equal(await page.locator('.session-item').count(), 0);
  await page.evaluate(() => sessionStorage.clear());
  await page.goto(`${server.base}/chatbox/sessions.html`);
  await page.waitForSelector('#connection-status:not([hidden])');
  assert.equal(await page.textContent('#status-text'), 'No authentication token');
  await page.goto(`${server.base}/chatbox/sessions.html?token=not-a-jwt`);
  await page.waitForSelector('#connection-status.error');
  assert.equal(await page.textContent('#status-text'), 'Your session has expired. Please sign in again.');
  assert.equal(await page.isVisible('#new-session-btn'), false);
  await page.context().close();
});

test('a shared link opens the conversation read-only, without a token', async () => {
  await chat.click('#share-btn');
  await chat.waitForSelector('#share-dialog[open]');
  const link = await chat.inputValue('#share-link');
  assert.match(link, /\/chatbox\/chat\.html\?share_token=/);
  await chat.click('#share-close');
  const page = await newPage(); // a fresh context: no token anywhere
  await page.goto(link);
  await page.waitForFunction(() => document.querySelectorAll('.message.ai').length >= 5);
  assert.equal(await page.textContent('#status-text'), 'Shared conversation (read-only)');
  assert.equal(await page.isVisible('#input-area'), false);
  assert.equal(await page.isVisible('#share-btn'), false);
  assert.equal(await page.evaluate(() => window.__sockets.length), 0, 'no WebSocket in the shared view');
  await page.context().close();
});

test('"New chat" ends the active session and opens a fresh one', async () => {
  const page = await newPage();
  await page.goto(`${server.base}/chatbox/sessions.html?token=${user}`);
  await page.click('#new-session-btn');
  await page.waitForURL(/chat\.html\?session_id=/);
  await page.waitForFunction(() => document.getElementById('status-text').textContent === 'Connected');
  const fresh = new URL(page.url()).searchParams.get('session_id');
  assert.notEqual(fresh, sessionId);
  assert.equal(await page.locator('.message.user, .message.ai').count(), 0);
  const res = await fetch(`${server.base}/chatbox/sessions/${sessionId}`, { headers: { Authorization: `Bearer ${user}` } });
  assert.equal((await res.json()).is_active, false);
  assert.equal(await send(page, 'How do I reset my password?'), 'Alpha reply to: How do I reset my password?');
  assert.equal(await page.textContent('#chat-title'), 'How do I reset my password?');
  await page.click('#back-btn');
  await page.waitForURL(/sessions\.html$/);
  await page.waitForFunction(() => document.querySelectorAll('.session-item').length === 2);
  const names = await page.locator('.session-name').allTextContents();
  assert.deepEqual(names, ['How do I reset my password?', 'hello there'], 'newest activity first');
  await page.screenshot({ path: shot('sessions-desktop.png') });
  await page.setViewportSize(PHONE);
  await page.screenshot({ path: shot('sessions-phone.png') });
  await page.context().close();
});

/**
 * A parent page on another site than the frames (127.0.0.1 vs localhost): Chromium denies such a
 * frame any storage. It answers `request_token` / `refresh_token` from the frames' origin with
 * a token from `issue(kind, frameId)` and records every message it gets in `window.got`.
 */
function crossSiteParent(frameOrigin, frames, issue) {
  const script = `window.got = [];
    addEventListener('message', async (e) => {
      const type = e.data && e.data.type;
      got.push({ origin: e.origin, type });
      if (e.origin !== ${JSON.stringify(frameOrigin)}) return;
      if (type !== 'request_token' && type !== 'refresh_token') return;
      const frame = [...document.querySelectorAll('iframe')].find((f) => f.contentWindow === e.source);
      const res = await fetch('/token?kind=' + type + '&frame=' + (frame ? frame.id : ''));
      e.source.postMessage({ type: 'token', token: await res.text() }, e.origin);
    });`;
  return {
    '/parent.js': () => ({ type: 'text/javascript', body: script }),
    '/token': (url) => ({ type: 'text/plain', body: issue(url.searchParams.get('kind'), url.searchParams.get('frame')) }),
    '/parent.html': `<!doctype html><title>Parent</title><script src="/parent.js"></script>
      ${frames.map(([id, src, w, h]) => `<iframe id="${id}" title="${id}" src="${src}" width="${w}" height="${h}"></iframe>`).join('\n')}`,
  };
}

test('embedded on another site, with storage denied, the chat asks the parent, connects, chats and refreshes its token', async () => {
  const serverPort = new URL(server.base).port;
  const frameOrigin = `http://localhost:${serverPort}`; // another site than the parent's 127.0.0.1
  const allowed = `http://127.0.0.1:${parents.port}`;
  const other = `http://localhost:${parents.port}`; // not a parent origin
  const issued = [];
  const bad = token('mallory');
  parents.pages = {
    ...crossSiteParent(frameOrigin, [['chat', `${frameOrigin}/chatbox/chat.html`, 420, 560], ['other', `${other}/other.html`, 100, 100]], (kind) => {
      // The first token expires in 62 s, so the page asks for a fresh one about 2 s in.
      const t = token('carol', { ttlSecs: kind === 'request_token' ? 62 : 3600 });
      issued.push({ kind, t });
      return t;
    }),
    '/other.html': '<!doctype html><title>Other</title><p>another origin</p>',
    '/framer.html': `<!doctype html><title>Framer</title><iframe src="${frameOrigin}/chatbox/chat.html"></iframe>`,
  };
  const page = await newPage();
  await page.goto(`${allowed}/parent.html`);
  const chatFrame = () => page.frames().find((f) => f.url().startsWith(`${frameOrigin}/chatbox/chat.html`));
  await page.waitForFunction(() => window.got.some((m) => m.type === 'request_token'));
  const frame = chatFrame();
  assert.equal(
    await frame.evaluate(() => { try { return typeof window.sessionStorage; } catch (e) { return e.name; } }),
    'SecurityError',
    'the browser denies this frame its storage (the condition under test)',
  );
  assert.deepEqual(await page.evaluate(() => window.got.map((m) => m.origin)), [frameOrigin], 'asked from the frame origin');
  await frame.waitForFunction(() => document.getElementById('status-text').textContent === 'Connected');
  assert.equal(issued[0].kind, 'request_token');
  const ws = await frame.evaluate(() => window.__sockets[0].url);
  assert.ok(ws.startsWith(`ws://localhost:${serverPort}/chatbox/ws?`), ws);
  // Another origin posting a token is ignored.
  const otherFrame = page.frames().find((f) => f.url().includes('/other.html'));
  await otherFrame.evaluate((t) => window.parent.frames[0].postMessage({ type: 'token', token: t }, '*'), bad);
  assert.equal(await send(frame, 'hi from the iframe'), 'Alpha reply to: hi from the iframe');
  await page.waitForFunction(() => window.got.some((m) => m.type === 'refresh_token'));
  await frame.waitForFunction(() => window.__sent.some((f) => JSON.parse(f).type === 'auth'));
  const auth = await frame.evaluate(() => window.__sent.map((f) => JSON.parse(f)).filter((f) => f.type === 'auth').map((f) => f.content));
  const fresh = issued.find((i) => i.kind === 'refresh_token').t;
  assert.deepEqual(auth, [fresh], 'the fresh token went to the open socket, and nothing else did');
  assert.equal(await send(frame, 'still here'), 'Alpha reply to: still here');
  const count = async (t) => (await (await fetch(`${server.base}/chatbox/sessions`, { headers: { Authorization: `Bearer ${t}` } })).json()).count;
  assert.equal(await count(fresh), 1);
  assert.equal(await count(bad), 0);
  // A page from an origin that is not a parent cannot frame the chat at all.
  const refused = page.waitForEvent('console', { predicate: (m) => /frame-ancestors/.test(m.text()) });
  await page.goto(`${other}/framer.html`);
  await refused;
  const framed = page.frames().find((f) => f !== page.mainFrame());
  assert.equal(await framed.locator('#message-input').count(), 0, 'frame-ancestors blocks other origins');
  await page.context().close();
});

test('the sessions and admin pages also run in a cross-site frame without storage', async () => {
  const frameOrigin = `http://localhost:${new URL(server.base).port}`;
  const allowed = `http://127.0.0.1:${parents.port}`;
  parents.pages = crossSiteParent(
    frameOrigin,
    [['sessions', `${frameOrigin}/chatbox/sessions.html`, 400, 500], ['admin', `${frameOrigin}/chatbox/admin.html`, 900, 500]],
    (kind, frame) => (frame === 'admin' ? token('ada', { roles: ['admin'] }) : user),
  );
  const page = await newPage({ width: 1400, height: 700 });
  await page.goto(`${allowed}/parent.html`);
  const frame = (name) => page.frames().find((f) => f.url().startsWith(`${frameOrigin}/chatbox/${name}`));
  await page.waitForFunction(() => window.got.filter((m) => m.type === 'request_token').length === 2);
  await frame('sessions.html').waitForSelector('.session-item');
  assert.ok((await frame('sessions.html').locator('.session-name').allTextContents()).includes('hello there'));
  const admin = frame('admin.html');
  await admin.waitForFunction(() => document.getElementById('feed-status-text').textContent === 'Live');
  assert.notEqual(await admin.textContent('#total-sessions'), '-');
  assert.ok(await admin.locator('#sessions-tbody tr').count() > 0);
  await page.context().close();
});

test('help shows a confirmation; admin frames show the banner and the admin\'s messages', async () => {
  const dave = token('dave');
  const page = await newPage();
  await page.goto(`${server.base}/chatbox/chat.html?token=${dave}`);
  assert.equal(await send(page, 'I need a person'), 'Alpha reply to: I need a person');
  await page.click('#help-btn');
  // This server has no staff channel configured, so the page must say so rather than promise
  // that an admin will join.
  await page.waitForSelector('.message.system >> text=Help requests are not monitored');
  assert.ok(await page.evaluate(() => window.__sent.some((f) => JSON.parse(f).type === 'help_request')));
  // Feed the page the contract's admin frames (§4) as the server sends them, on its own socket
  // (real takeovers are tested over sockets in the Rust tests of chatbox-ws and the server).
  const sid = new URL(page.url()).searchParams.get('session_id');
  const frames = [
    { type: 'admin_join', session_id: sid, content: 'Administrator Ann has joined the session', sender: 'admin', metadata: { admin_id: 'ann', admin_name: 'Ann' } },
    { type: 'user_message', session_id: sid, content: 'Hi, I am **Ann** <i>from</i> support', sender: 'admin', timestamp: new Date().toISOString() },
  ];
  await page.evaluate((fs) => {
    const ws = window.__sockets.at(-1);
    for (const f of fs) ws.dispatchEvent(new MessageEvent('message', { data: JSON.stringify(f) }));
  }, frames);
  await page.waitForSelector('#admin-name-display:not([hidden])');
  assert.equal(await page.textContent('#admin-name'), 'Ann');
  assert.equal(await page.isVisible('#model-selector-container'), false, 'no model choice while a person assists');
  await page.waitForSelector('.message.system >> text=Administrator Ann has joined the session');
  const line = page.locator('.message.admin .message-content');
  assert.equal(await line.textContent(), 'Hi, I am Ann <i>from</i> support');
  assert.equal(await line.locator('strong').textContent(), 'Ann');
  assert.equal(await line.locator('i').count(), 0);
  await page.evaluate((f) => window.__sockets.at(-1).dispatchEvent(new MessageEvent('message', { data: JSON.stringify(f) })),
    { type: 'admin_leave', session_id: sid, content: 'Administrator Ann has left the session', sender: 'admin', metadata: { admin_id: 'ann', admin_name: 'Ann' } });
  await page.waitForSelector('#admin-name-display[hidden]', { state: 'attached' });
  assert.equal(await page.isVisible('#model-selector-container'), true);
  await page.context().close();
});

test('no page raised an uncaught error or a policy violation', () => {
  assert.deepEqual(errors, []);
});
