// Browser tests of the admin dashboard and the human side of the chat: the real server binary,
// a fake OpenAI-compatible vendor, Debian's Chromium. A user asks for help, the request reaches
// the dashboard's queue live, the admin watches the reply stream, takes over mid-reply, they talk
// (typing shown both ways), the admin releases and the AI answers again. Also the list's
// filters, sorts and paging against real data, one user's sessions, and a user's token.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { SOCKET_SPY, fakeVendor, launchBrowser, screenshotsDir, startServer, token } from './support.mjs';

const SHOTS = screenshotsDir();
const shot = (name) => join(SHOTS, name);
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 360, height: 780 };
const SLOW = Array.from({ length: 40 }, (_, i) => `part${i + 1} `);

let vendor;
let server;
let browser;
let seeder; // a page on the server's origin without a policy, to open raw sockets
const errors = [];
const admin = token('ada', { roles: ['admin'], name: 'Ada' });
const patSessions = []; // seeded by the filters test, used by the next one
const dave = token('dave', { name: 'Dave' });

function script(_provider, last) {
  if (last.includes('slow')) return { chunks: SLOW, delayMs: 150 };
  return { chunks: ['Alpha ', 'reply to: ', last], delayMs: 30 };
}

async function newPage(viewport = DESKTOP) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/.test(m.text())) errors.push(m.text());
  });
  await page.addInitScript(SOCKET_SPY);
  return page;
}

const url = (page, query) => `${server.base}/chatbox/${page}?${new URLSearchParams(query)}`;
const adminApi = async (path) =>
  (await fetch(`${server.base}/chatbox${path}`, { headers: { Authorization: `Bearer ${admin}` } })).json();

async function send(page, text) {
  const n = await page.locator('.message.ai[data-done="true"]').count();
  await page.fill('#message-input', text);
  await page.press('#message-input', 'Enter');
  await page.waitForFunction((k) => document.querySelectorAll('.message.ai[data-done="true"]').length > k, n);
  return (await page.locator('.message.ai[data-done="true"] .message-content').last().textContent()).trim();
}

/**
 * Opens `tok`'s user's active (else a new) session over a raw socket, exchanges `messages`,
 * closes, and ends it when asked; resolves to the session id.
 */
async function seed(tok, messages, { end = false } = {}) {
  const ws = `${server.base.replace('http', 'ws')}/chatbox/ws?${new URLSearchParams({ token: tok })}`;
  const sessionId = await seeder.evaluate(async ([u, msgs]) => {
    const socket = new WebSocket(u);
    const next = (pred) => new Promise((resolve, reject) => {
      socket.onmessage = (e) => {
        const f = JSON.parse(e.data);
        if (pred(f)) resolve(f);
      };
      socket.onerror = () => reject(new Error('socket failed'));
    });
    const status = await next((f) => f.type === 'connection_status');
    for (const content of msgs) {
      const done = next((f) => f.type === 'ai_response' && f.metadata?.done === 'true');
      socket.send(JSON.stringify({ type: 'user_message', content }));
      await done;
    }
    socket.close();
    return status.session_id;
  }, [ws, messages]);
  if (end) {
    const res = await fetch(`${server.base}/chatbox/sessions/${sessionId}/end`, { method: 'POST', headers: { Authorization: `Bearer ${tok}` } });
    assert.equal(res.status, 200);
  }
  return sessionId;
}

/** No horizontal scrolling of the page itself (wide tables scroll inside their own box). */
async function fitsWidth(page) {
  return page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
}

/** Buttons that show only a symbol must carry a label. */
async function unlabelledButtons(page) {
  return page.evaluate(() => [...document.querySelectorAll('button')]
    .filter((b) => b.offsetParent !== null)
    .filter((b) => !/[A-Za-z]/.test(b.textContent) && !b.getAttribute('aria-label'))
    .map((b) => b.outerHTML));
}

before(async () => {
  vendor = await fakeVendor(script);
  server = await startServer({
    ADMIN_RATE_LIMIT: '1000',
    LLM_PROVIDER_1_ID: 'alpha',
    LLM_PROVIDER_1_NAME: 'Alpha',
    LLM_PROVIDER_1_TYPE: 'openai',
    LLM_PROVIDER_1_ENDPOINT: vendor.url('alpha'),
    LLM_PROVIDER_1_API_KEY: 'sk-alpha',
    LLM_PROVIDER_1_MODEL: 'alpha-model',
  });
  browser = await launchBrowser();
  seeder = await (await browser.newContext()).newPage();
  await seeder.goto(`${server.base}/chatbox/healthz`);
});

after(async () => {
  await browser?.close();
  await server?.stop();
  vendor?.close();
});

test('a user token on the dashboard sees "admins only" and no data', async () => {
  const page = await newPage();
  await page.goto(url('admin.html', { token: dave }));
  await page.waitForSelector('#admins-only:not([hidden])');
  assert.equal(await page.textContent('#admins-only h2'), 'Admins only');
  assert.equal(await page.isVisible('#dashboard'), false);
  assert.equal(await page.locator('#sessions-tbody tr').count(), 0);
  assert.equal(await page.evaluate(() => window.__sockets.length), 0, 'no event feed for a user');
  assert.equal(new URL(page.url()).searchParams.get('token'), null, 'the token left the address bar');
  await page.context().close();
  const bare = await newPage(); // a fresh context: no token anywhere
  await bare.goto(url('admin.html', {}));
  await bare.waitForSelector('#page-status:not([hidden])');
  assert.equal(await bare.textContent('#page-status-text'), 'No authentication token');
  await bare.context().close();
});

test('help → live queue → watch the stream → take over mid-reply → talk both ways → release → the AI answers', async () => {
  const dash = await newPage();
  await dash.goto(url('admin.html', { token: admin }));
  await dash.waitForFunction(() => document.getElementById('feed-status-text').textContent === 'Live');
  await dash.evaluate(() => { window.__notReloaded = true; });
  assert.equal(await dash.textContent('#help-queue-empty'), 'No one is waiting for help.');

  const chat = await newPage();
  await chat.goto(url('chat.html', { token: dave }));
  assert.equal(await send(chat, 'my order is late'), 'Alpha reply to: my order is late');
  const sid = new URL(chat.url()).searchParams.get('session_id');
  await chat.click('#help-btn');
  // No staff channel is configured here: the page says so instead of promising an admin.
  await chat.waitForSelector('.message.system >> text=Help requests are not monitored');
  await chat.waitForSelector('#help-status[data-state="unmonitored"]');
  assert.equal(await chat.getAttribute('#help-btn', 'data-state'), 'unmonitored');

  // The request reaches the queue over the event feed, without a reload.
  const item = dash.locator(`#help-queue-list .help-item[data-session-id="${sid}"]`);
  await item.waitFor();
  assert.equal(await dash.evaluate(() => window.__notReloaded), true);
  assert.equal(await item.locator('.help-user').textContent(), 'dave');
  assert.equal(await item.locator('.help-wait').textContent(), 'Waiting less than a minute');
  assert.equal(await dash.textContent('#help-queue-count'), '1');
  // A refresh reads the same queue from the server, now with the session's name.
  await dash.click('#refresh-btn');
  await dash.waitForSelector(`#sessions-tbody tr[data-session-id="${sid}"]`);
  await item.locator('.help-session >> text=my order is late').waitFor();
  await dash.screenshot({ path: shot('admin-desktop.png'), fullPage: true });
  await dash.setViewportSize(PHONE);
  assert.ok(await fitsWidth(dash), 'the dashboard fits 360 px');
  assert.deepEqual(await unlabelledButtons(dash), []);
  await dash.screenshot({ path: shot('admin-phone.png') });
  await dash.setViewportSize(DESKTOP);

  // Watch, by keyboard.
  await item.locator('.queue-watch').focus();
  await dash.keyboard.press('Enter');
  await dash.waitForSelector('#watch-view:not([hidden])');
  await dash.waitForFunction(() => document.getElementById('watch-status-text').textContent === 'Live');
  await dash.waitForSelector('#watch-messages .message.ai >> text=Alpha reply to: my order is late');
  assert.equal(await dash.textContent('#watch-state'), 'Watching (read-only): the user is not told');
  assert.equal(await dash.isDisabled('#watch-input'), true);

  // The AI reply streams into the watch view token by token.
  await chat.fill('#message-input', 'tell me a slow story');
  await chat.press('#message-input', 'Enter');
  const streaming = dash.locator('#watch-messages .message.ai[aria-busy="true"] .message-content');
  await streaming.filter({ hasText: 'part2 ' }).waitFor();
  const early = await streaming.textContent();
  await streaming.filter({ hasText: 'part4 ' }).waitFor();
  assert.ok((await streaming.textContent()).length > early.length, 'the text grows while watched');
  const requestsBefore = vendor.requests.length;

  // Take over mid-reply.
  await dash.click('#watch-takeover-btn');
  await chat.waitForSelector('#admin-name-display:not([hidden])');
  assert.equal(await chat.textContent('#admin-name'), 'Ada');
  await dash.waitForSelector('#watch-release-btn:not([hidden])');
  assert.match(await dash.textContent('#watch-state'), /^You are assisting/);
  const cut = chat.locator('.message.ai[data-cancelled="takeover"] .message-content');
  await cut.waitFor();
  const cutText = (await cut.textContent()).trim();
  assert.ok(cutText.startsWith('part1 part2 part3 part4'), cutText);
  assert.ok(!cutText.includes('part40'), 'the reply was cut short');
  assert.equal(await dash.locator('#watch-messages .message.ai[data-cancelled="takeover"]').count(), 1);

  // The admin types: the user sees dots; then the message.
  await dash.locator('#watch-input').pressSequentially('Hi Dave, ', { delay: 20 });
  await chat.waitForSelector('.typing-indicator.admin');
  assert.equal(await chat.getAttribute('.typing-indicator.admin', 'aria-label'), 'Ada is typing');
  await dash.locator('#watch-input').pressSequentially('I am looking at your order.');
  await dash.press('#watch-input', 'Enter');
  const fromAdmin = chat.locator('.message.admin .message-content');
  await fromAdmin.waitFor();
  assert.equal(await fromAdmin.textContent(), 'Hi Dave, I am looking at your order.');
  assert.equal(await chat.locator('.message.admin .message-sender').textContent(), 'Ada · Support');
  await chat.waitForSelector('.typing-indicator', { state: 'detached' });
  await dash.waitForSelector('#watch-messages .message.admin:not(.pending)');

  // The user types: the admin sees dots; then the message.
  await chat.locator('#message-input').pressSequentially('Thank you', { delay: 20 });
  await dash.waitForSelector('#watch-messages .typing-indicator.user');
  await chat.press('#message-input', 'Enter');
  await dash.waitForSelector('#watch-messages .message.user >> text=Thank you');
  await dash.waitForSelector('#watch-messages .typing-indicator', { state: 'detached' });

  // No AI text after the banner: the cut reply stayed cut, nothing new was asked of the model.
  assert.equal((await cut.textContent()).trim(), cutText);
  assert.equal(vendor.requests.length, requestsBefore, 'the AI stayed silent while assisted');
  const order = await chat.evaluate(() => {
    const all = [...document.querySelectorAll('#messages-container > *')];
    const joined = all.findIndex((n) => n.matches('.message.system.admin-event'));
    return { joined, lastAi: Math.max(...all.map((n, i) => (n.matches('.message.ai') ? i : -1))) };
  });
  assert.ok(order.joined > order.lastAi, 'no AI bubble after the join line');

  await chat.screenshot({ path: shot('chat-admin-desktop.png') });
  await dash.screenshot({ path: shot('watch-desktop.png') });
  await chat.setViewportSize(PHONE);
  await dash.setViewportSize(PHONE);
  assert.ok(await fitsWidth(chat), 'the chat fits 360 px');
  assert.ok(await fitsWidth(dash), 'the watch view fits 360 px');
  assert.deepEqual(await unlabelledButtons(chat), []);
  await chat.screenshot({ path: shot('chat-admin-phone.png') });
  await dash.screenshot({ path: shot('watch-phone.png') });
  await dash.setViewportSize(DESKTOP);

  // Release: the banner goes, and the AI answers the next message.
  await dash.click('#watch-release-btn');
  await chat.waitForSelector('#admin-name-display', { state: 'hidden' });
  await dash.waitForSelector('#watch-takeover-btn:not([hidden])');
  assert.equal(await dash.textContent('#watch-state'), 'Watching (read-only): the user is not told');
  assert.equal(await send(chat, 'is the bot back?'), 'Alpha reply to: is the bot back?');
  await dash.waitForSelector('#watch-messages .message.ai >> text=Alpha reply to: is the bot back?');

  // Back on the dashboard: the queue is empty and the row names the admin.
  await dash.click('#watch-back-btn');
  await dash.waitForSelector('#dashboard:not([hidden])');
  await dash.waitForSelector(`#help-queue-list .help-item[data-session-id="${sid}"]`, { state: 'detached' });
  await dash.waitForSelector(`#sessions-tbody tr[data-session-id="${sid}"] .admin-badge >> text=Ada`);
  const detail = await adminApi(`/admin/sessions/${sid}`);
  assert.deepEqual(detail.takeovers.map((t) => [t.kind, t.admin_name]), [['join', 'Ada'], ['leave', 'Ada']]);
  assert.deepEqual(
    detail.messages.filter((m) => m.sender === 'admin').map((m) => m.content),
    ['Hi Dave, I am looking at your order.'],
  );
  await chat.context().close();
  await dash.context().close();
});

test('filters, sorts and paging work against real data', async () => {
  const pat = token('pat');
  patSessions.push(await seed(pat, ['first question'], { end: true }));
  patSessions.push(await seed(pat, ['second question', 'and a follow-up'], { end: true }));
  patSessions.push(await seed(pat, []));
  for (let i = 1; i <= 9; i += 1) await seed(token(`bulk-${String(i).padStart(2, '0')}`), [], { end: true });
  const [patOne, patTwo, patThree] = patSessions;
  const all = await adminApi('/admin/sessions?limit=1000');
  assert.ok(all.total >= 13, `seeded: ${all.total}`);

  const page = await newPage();
  await page.goto(url('admin.html', { token: admin }));
  await page.waitForSelector('#sessions-tbody tr');
  const metrics = await adminApi('/admin/metrics');
  assert.equal(await page.textContent('#total-sessions'), String(metrics.total_sessions));
  assert.equal(await page.textContent('#active-sessions'), String(metrics.active_sessions));
  const rows = () => page.locator('#sessions-tbody tr');
  const ids = () => rows().evaluateAll((trs) => trs.map((t) => t.dataset.sessionId));
  const reloaded = async (action) => {
    const before = await page.evaluateHandle(() => document.getElementById('sessions-tbody').firstElementChild);
    await action();
    await page.waitForFunction((b) => document.getElementById('sessions-tbody').firstElementChild !== b, before);
    await before.dispose();
  };
  // Auto-refresh is on by default and toggles by click (a pressed button for screen readers).
  assert.equal(await page.textContent('#auto-refresh-status'), 'Auto-refresh: ON');
  await page.click('#auto-refresh-status');
  assert.equal(await page.textContent('#auto-refresh-status'), 'Auto-refresh: OFF');
  assert.equal(await page.getAttribute('#auto-refresh-status', 'aria-pressed'), 'false');
  await page.click('#auto-refresh-status');
  assert.equal(await page.getAttribute('#auto-refresh-status', 'aria-pressed'), 'true');
  const headers = await page.locator('#sessions-table thead th').allTextContents();
  assert.deepEqual(headers, ['User ID', 'Session ID', 'Status', 'Start Time', 'Duration', 'Last Activity', 'Tokens',
    'Avg Response', 'Max Response', 'Admin', 'Actions']);

  // Paging: 10 rows a page, with the total.
  await reloaded(() => page.selectOption('#page-size', '10'));
  assert.equal(await rows().count(), 10);
  assert.equal(await page.textContent('#page-info'), `1–10 of ${all.total}`);
  const first = await ids();
  await reloaded(() => page.click('#page-next'));
  const second = await ids();
  assert.equal(await page.textContent('#page-info'), `11–${Math.min(20, all.total)} of ${all.total}`);
  assert.equal(second.filter((id) => first.includes(id)).length, 0, 'pages do not overlap');
  assert.deepEqual([...first, ...second], all.sessions.slice(0, first.length + second.length).map((s) => s.session_id));
  await reloaded(() => page.click('#page-prev'));
  assert.deepEqual(await ids(), first);
  assert.equal(await page.isDisabled('#page-prev'), true);

  // Sorting by user id, ascending.
  await reloaded(() => page.selectOption('#sort-order', 'asc'));
  await reloaded(() => page.selectOption('#sort-field', 'user_id'));
  const users = await rows().locator('.user-link').allTextContents();
  assert.deepEqual(users, [...users].sort());
  assert.equal(users[0], 'bulk-01');

  // Filters: one user; then only the active ones; then a date range with nothing in it.
  await reloaded(() => page.selectOption('#sort-field', 'message_count'));
  await reloaded(() => page.selectOption('#sort-order', 'desc'));
  await page.fill('#filter-user-id', 'pat');
  await reloaded(() => page.click('#apply-filters-btn'));
  assert.deepEqual(await ids(), [patTwo, patOne, patThree]);
  assert.equal(await page.textContent('#page-info'), '1–3 of 3');
  assert.deepEqual(await rows().locator('.status-badge').allTextContents(), ['Ended', 'Ended', 'Active']);
  await page.selectOption('#filter-status', 'active');
  await reloaded(() => page.click('#apply-filters-btn'));
  assert.deepEqual(await ids(), [patThree]);
  assert.equal(await rows().locator(`[data-takeover-session="${patThree}"]`).count(), 1);
  await page.selectOption('#filter-status', '');
  await page.fill('#filter-user-id', '');
  await page.selectOption('#filter-admin', 'true');
  await reloaded(() => page.click('#apply-filters-btn'));
  assert.deepEqual(await rows().locator('.user-link').allTextContents(), ['dave']);
  await page.fill('#filter-date-start', '2000-01-01');
  await page.fill('#filter-date-end', '2000-01-02');
  await page.click('#apply-filters-btn');
  await page.waitForSelector('#empty-state:not([hidden])');
  assert.equal(await rows().count(), 0);
  assert.equal(await page.textContent('#total-sessions'), '0', 'metrics follow the date range');
  await reloaded(() => page.click('#clear-filters-btn'));
  assert.equal(await page.inputValue('#filter-date-start'), '');
  assert.equal(await page.textContent('#page-info'), `1–10 of ${all.total}`);

  // A bad filter is explained in the page (the server's 400), never in an alert.
  page.on('dialog', (d) => errors.push(`unexpected dialog: ${d.message()}`));
  await page.evaluate(() => { document.getElementById('filter-user-id').maxLength = 400; });
  await page.fill('#filter-user-id', 'x'.repeat(300));
  await page.click('#apply-filters-btn');
  await page.waitForSelector('#page-status:not([hidden])');
  assert.match(await page.textContent('#page-status-text'), /user_id/);
  await page.context().close();
});

test('one user\'s sessions open in a dialog, by keyboard; the table takes a session over', async () => {
  const [, patTwo, patThree] = patSessions;
  const page = await newPage();
  await page.goto(url('admin.html', { token: admin }));
  await page.fill('#filter-user-id', 'pat');
  await page.click('#apply-filters-btn');
  await page.waitForFunction(() => document.querySelectorAll('#sessions-tbody tr').length === 3);
  const link = page.locator('.user-link[data-user-id="pat"]').first();
  await link.focus();
  await page.keyboard.press('Enter');
  await page.waitForSelector('#user-sessions-modal[open]');
  await page.waitForSelector('#user-sessions-tbody tr');
  assert.equal(await page.textContent('#modal-user-id'), 'pat');
  assert.equal(await page.locator('#user-sessions-tbody tr').count(), 3);
  assert.equal(await page.textContent('#modal-status'), '3 sessions');
  await page.keyboard.press('Escape');
  await page.waitForSelector('#user-sessions-modal:not([open])', { state: 'attached' });
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.userId), 'pat', 'focus returns to the link');

  // An ended session opens read-only from its history.
  await page.click(`[data-view-session="${patTwo}"]`);
  await page.waitForSelector('#watch-messages .message.user >> text=and a follow-up');
  assert.equal(await page.textContent('#watch-state'), 'Ended: stored history (read-only)');
  assert.equal(await page.isVisible('#watch-takeover-btn'), false);
  await page.click('#watch-back-btn');
  await page.waitForSelector('#dashboard:not([hidden])');

  // "Takeover" on an active row joins the session at once; leaving the view releases it.
  await page.click(`[data-takeover-session="${patThree}"]`);
  await page.waitForSelector('#watch-release-btn:not([hidden])');
  assert.equal(await page.isDisabled('#watch-input'), false);
  const feed = `${server.base.replace('http', 'ws')}/chatbox/ws?${new URLSearchParams({ token: admin, mode: 'events' })}`;
  await seeder.evaluate(([u, sid]) => new Promise((subscribed) => {
    const ws = new WebSocket(u);
    window.__released = new Promise((resolve) => {
      ws.onmessage = (e) => {
        const f = JSON.parse(e.data);
        if (f.metadata?.feed === 'events') subscribed();
        if (f.type === 'session_event' && f.session_id === sid && f.metadata.event === 'release') {
          ws.close();
          resolve(f.metadata.reason);
        }
      };
    });
  }), [feed, patThree]);
  await page.click('#watch-back-btn');
  await page.waitForSelector('#dashboard:not([hidden])');
  assert.equal(await seeder.evaluate(() => window.__released), 'leave');
  const detail = await adminApi(`/admin/sessions/${patThree}`);
  assert.deepEqual(detail.takeovers.map((t) => t.kind), ['join', 'leave']);
  await page.context().close();
});

test('features the server turned off have no controls; a link opens a session\'s view directly', async () => {
  const off = await startServer({
    ENABLE_HELP_REQUESTS: 'false',
    ENABLE_ADMIN_TAKEOVER: 'false',
    LLM_PROVIDER_1_ID: 'alpha',
    LLM_PROVIDER_1_TYPE: 'openai',
    LLM_PROVIDER_1_ENDPOINT: vendor.url('alpha'),
    LLM_PROVIDER_1_API_KEY: 'sk-alpha',
    LLM_PROVIDER_1_MODEL: 'alpha-model',
  });
  try {
    const chat = await newPage();
    await chat.goto(`${off.base}/chatbox/chat.html?token=${dave}`);
    assert.equal(await send(chat, 'hello'), 'Alpha reply to: hello');
    assert.equal(await chat.isVisible('#help-btn'), false, 'no help button when help requests are off');
    const sid = new URL(chat.url()).searchParams.get('session_id');
    const dash = await newPage();
    await dash.goto(`${off.base}/chatbox/admin.html?token=${admin}#session/${sid}`);
    await dash.waitForSelector('#watch-messages .message.ai >> text=Alpha reply to: hello');
    await dash.waitForFunction(() => document.getElementById('watch-status-text').textContent === 'Live');
    assert.equal(await dash.isVisible('#watch-takeover-btn'), false);
    assert.equal(await dash.textContent('#watch-state'), 'Watching (read-only): takeover is turned off on this server');
    assert.equal(new URL(dash.url()).searchParams.get('token'), null);
    await dash.click('#watch-back-btn');
    await dash.waitForSelector(`#sessions-tbody tr[data-session-id="${sid}"]`);
    await chat.context().close();
    await dash.context().close();
  } finally {
    await off.stop();
  }
});

test('no page raised an uncaught error, a policy violation or a dialog', () => {
  assert.deepEqual(errors, []);
});
