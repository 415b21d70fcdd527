// Browser tests of files, photos and voice notes on the chat page: the real server binary (uploads
// on, stored under CHATBOX_DATA_DIR/files, no transcription provider), a fake OpenAI-compatible
// vendor, Debian's Chromium with its fake microphone. Also writes screenshots (see screenshotsDir).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { deflateSync } from 'node:zlib';
import { SOCKET_SPY, fakeVendor, launchBrowser, screenshotsDir, startServer, token } from './support.mjs';

const SHOTS = screenshotsDir();
const shot = (name) => join(SHOTS, name);
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 360, height: 780 };

let vendor;
let server;
let browser;
const errors = [];
const user = token('fiona', { name: 'Fiona' });
let chat; // the page the tests share
let sessionId;
const requests = []; // every HTTP request of the shared page: {url, method, authorization}

/** A small but real PDF (one empty page) with `padding` random bytes in a stream. */
function pdf(padding) {
  const noise = randomBytes(padding);
  return Buffer.concat([
    Buffer.from('%PDF-1.4\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\n' +
      '2 0 obj <</Type /Pages /Kids [3 0 R] /Count 1>> endobj\n' +
      '3 0 obj <</Type /Page /Parent 2 0 R /MediaBox [0 0 200 200]>> endobj\n' +
      `4 0 obj <</Length ${noise.length}>> stream\n`),
    noise,
    Buffer.from('\nendstream endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n'),
  ]);
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A `width`×`height` RGB PNG with a colour gradient. */
function png(width, height) {
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // RGB
  const rows = [];
  for (let y = 0; y < height; y += 1) {
    const row = Buffer.alloc(1 + width * 3);
    for (let x = 0; x < width; x += 1) {
      row[1 + x * 3] = Math.round((255 * x) / width);
      row[2 + x * 3] = Math.round((255 * y) / height);
      row[3 + x * 3] = 200;
    }
    rows.push(row);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(Buffer.concat(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const INVOICE = pdf(300 * 1024);
const PHOTO = png(96, 64);

async function newPage(viewport = DESKTOP, { init = null } = {}) {
  const context = await browser.newContext({ viewport, permissions: ['microphone'], acceptDownloads: true });
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push(String(e)));
  // The pages must run under their policy: blob: thumbnails and audio included.
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/.test(m.text())) errors.push(m.text());
  });
  await page.addInitScript(SOCKET_SPY);
  // Intercept file pickers from the start: the interception waitForEvent('filechooser') turns on
  // is asynchronous, and a picker opened before it is on never becomes an event.
  page.on('filechooser', () => {});
  if (init) await page.addInitScript(init);
  return page;
}

const sent = (page, type) =>
  page.evaluate((t) => window.__sent.map((f) => JSON.parse(f)).filter((f) => f.type === t), type);
const aiDone = (page) => page.locator('.message.ai[data-done="true"]');

/** Records what #upload-progress shows, on every change (an upload on localhost is quick). */
async function watchProgress(page) {
  await page.evaluate(() => {
    window.__progress = [];
    const box = document.getElementById('upload-progress');
    new MutationObserver(() => {
      window.__progress.push({
        shown: !box.hidden,
        text: document.getElementById('progress-text').textContent,
        value: box.querySelector('[role="progressbar"]').getAttribute('aria-valuenow'),
      });
    }).observe(box, { attributes: true, childList: true, characterData: true, subtree: true });
  });
}

const provider = () => ({
  LLM_PROVIDER_1_ID: 'alpha',
  LLM_PROVIDER_1_NAME: 'Alpha',
  LLM_PROVIDER_1_TYPE: 'openai',
  LLM_PROVIDER_1_ENDPOINT: vendor.url('alpha'),
  LLM_PROVIDER_1_API_KEY: 'sk-alpha',
  LLM_PROVIDER_1_MODEL: 'alpha-model',
});

before(async () => {
  vendor = await fakeVendor((_provider, last) => ({ chunks: ['Got ', 'it: ', last || '(no text)'], delayMs: 20 }));
  server = await startServer({ ...provider(), UPLOAD_MAX_SIZE: '1MB' });
  browser = await launchBrowser({
    args: ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', '--autoplay-policy=no-user-gesture-required'],
  });
  chat = await newPage();
  chat.on('request', (r) => requests.push({ url: r.url(), method: r.method(), authorization: r.headers().authorization ?? null }));
  await chat.goto(`${server.base}/chatbox/chat.html?token=${user}`);
  await chat.waitForFunction(() => document.getElementById('status-text').textContent === 'Connected');
  sessionId = new URL(chat.url()).searchParams.get('session_id');
});

after(async () => {
  await browser?.close();
  await server?.stop();
  vendor?.close();
});

test('the attach, photo and voice buttons show, labelled, when the server has the features on', async () => {
  for (const [id, label] of [['file-upload-btn', 'Attach a file'], ['camera-btn', 'Take a photo'], ['voice-btn', 'Record a voice message']]) {
    assert.equal(await chat.isVisible(`#${id}`), true, id);
    assert.equal(await chat.getAttribute(`#${id}`, 'aria-label'), label);
  }
  assert.equal(await chat.getAttribute('#camera-input', 'capture'), 'environment');
  assert.equal(await chat.getAttribute('#camera-input', 'accept'), 'image/*');
  // Keyboard: Tab reaches the attach button from the start of the form, Enter opens the picker.
  await chat.focus('#file-upload-btn');
  const [chooser] = await Promise.all([chat.waitForEvent('filechooser'), chat.keyboard.press('Enter')]);
  assert.equal(chooser.isMultiple(), false);
  assert.equal(await chooser.element().getAttribute('id'), 'file-input');
});

test('a PDF goes up with a progress bar, appears as a download and downloads the same bytes', async () => {
  await watchProgress(chat);
  const before = await aiDone(chat).count();
  await chat.fill('#message-input', 'Here is the invoice');
  await chat.setInputFiles('#file-input', { name: 'invoice.pdf', mimeType: 'application/pdf', buffer: INVOICE });
  const file = chat.locator('.message.user .message-file[data-file-name="invoice.pdf"]');
  await file.waitFor();
  await chat.waitForFunction((n) => document.querySelectorAll('.message.ai[data-done="true"]').length > n, before);
  const progress = await chat.evaluate(() => window.__progress);
  assert.ok(progress.some((p) => p.shown && /^Uploading invoice\.pdf… \d+%$/.test(p.text)), JSON.stringify(progress));
  assert.ok(progress.some((p) => p.shown && p.value === '100'), 'the bar reached 100%');
  assert.equal(await chat.isVisible('#upload-progress'), false, 'the bar is gone once sent');
  const [frame] = await sent(chat, 'file_upload');
  assert.equal(frame.content, 'Here is the invoice', 'the typed text is the caption');
  assert.match(frame.file_id, /^\w+$/);
  assert.equal(await chat.inputValue('#message-input'), '');
  const bubble = chat.locator('.message.user', { has: chat.locator('.message-file[data-file-name="invoice.pdf"]') });
  assert.equal(await bubble.locator('.message-content').textContent(), 'Here is the invoice');
  assert.equal(await bubble.locator('.file-link').textContent(), 'Download invoice.pdf (300 KB)');
  // The model is told about the file along with the caption.
  const asked = vendor.requests.at(-1).body.messages.filter((m) => m.role === 'user').at(-1).content;
  assert.match(JSON.stringify(asked), /\[file: invoice\.pdf, application\/pdf, 300 KB\][\s\S]*Here is the invoice/);
  // Download: the page fetches the bytes with the token in a header and saves them by name.
  const [download] = await Promise.all([chat.waitForEvent('download'), bubble.locator('.file-link').click()]);
  assert.equal(download.suggestedFilename(), 'invoice.pdf');
  const chunks = [];
  for await (const c of await download.createReadStream()) chunks.push(c);
  assert.ok(Buffer.concat(chunks).equals(INVOICE), 'the downloaded bytes are the uploaded ones');
  const fileRequests = requests.filter((r) => /\/chatbox\/(files\/|upload)/.test(r.url));
  assert.deepEqual(fileRequests.map((r) => [r.method, new URL(r.url).pathname]), [
    ['POST', '/chatbox/upload'],
    ['GET', `/chatbox/files/${frame.file_id}`],
  ]);
  for (const r of fileRequests) {
    assert.equal(r.authorization, `Bearer ${user}`, 'the token travels in the header');
    assert.ok(!r.url.includes(user) && !r.url.includes('token='), 'never in a URL');
  }
  // The same bytes from the server, fetched in the page the way the page does.
  const same = await chat.evaluate(async ([url, tok, expected]) => {
    const res = await fetch(url, { headers: { Authorization: `Bearer ${tok}` } });
    const got = new Uint8Array(await res.arrayBuffer());
    return res.headers.get('content-type') === 'application/pdf' && got.length === expected.length && got.every((b, i) => b === expected[i]);
  }, [`${server.base}/chatbox/files/${frame.file_id}`, user, [...INVOICE]]);
  assert.equal(same, true);
});

test('a photo from the camera button appears as a thumbnail drawn from a blob: URL', async () => {
  const before = await aiDone(chat).count();
  const [chooser] = await Promise.all([chat.waitForEvent('filechooser'), chat.click('#camera-btn')]);
  assert.equal(await chooser.element().getAttribute('id'), 'camera-input');
  await chooser.setFiles({ name: 'photo.png', mimeType: 'image/png', buffer: PHOTO });
  const img = chat.locator('.message.user .message-file.image img[alt="photo.png"]');
  await img.waitFor();
  await chat.waitForFunction(() => {
    const i = document.querySelector('.message.user .message-file.image img[alt="photo.png"]');
    return i?.src.startsWith('blob:') && i.complete && i.naturalWidth > 0;
  });
  assert.deepEqual(await img.evaluate((i) => [i.naturalWidth, i.naturalHeight]), [96, 64]);
  assert.match(await chat.locator('.message.user .file-thumb').last().getAttribute('href'), /^blob:/);
  const [frame] = (await sent(chat, 'file_upload')).slice(-1);
  assert.equal(frame.content, '', 'no caption');
  await chat.waitForFunction((n) => document.querySelectorAll('.message.ai[data-done="true"]').length > n, before);
});

test('refused uploads show the server\'s reason in the page, and nothing is sent', async () => {
  const count = (await sent(chat, 'file_upload')).length;
  const dialogs = [];
  chat.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss(); });
  await chat.setInputFiles('#file-input', { name: 'setup.exe', mimeType: 'application/octet-stream', buffer: Buffer.concat([Buffer.from('MZ'), randomBytes(2048)]) });
  const refused = chat.locator('.message.system.error[role="alert"]', { hasText: 'setup.exe' });
  await refused.waitFor();
  assert.equal(
    await refused.textContent(),
    'Could not send setup.exe: Upload refused: files named .exe are not accepted: programs and scripts cannot be uploaded',
  );
  await chat.setInputFiles('#file-input', { name: 'big.pdf', mimeType: 'application/pdf', buffer: pdf(1100 * 1024) });
  await chat.locator('.message.system.error', { hasText: 'File too large' }).waitFor();
  assert.equal(await chat.locator('.message.system.error', { hasText: 'File too large' }).textContent(), 'File too large (max 1 MB)');
  assert.equal((await sent(chat, 'file_upload')).length, count);
  assert.deepEqual(dialogs, [], 'no alert()');
  assert.equal(await chat.isVisible('#upload-progress'), false);
});

test('a voice note recorded from the microphone is sent, told apart when untranscribed, and plays', async () => {
  await chat.click('#voice-btn');
  await chat.waitForSelector('#voice-recording:not([hidden])');
  assert.equal(await chat.getAttribute('#voice-btn', 'aria-label'), 'Stop recording and send');
  await chat.waitForFunction(() => document.getElementById('recording-time').textContent === '0:01');
  await chat.screenshot({ path: shot('chat-recording-desktop.png') });
  await chat.click('#stop-recording-btn');
  await chat.waitForFunction(() => window.__sent.some((f) => JSON.parse(f).type === 'voice_message'));
  assert.equal(await chat.isVisible('#voice-recording'), false);
  const [frame] = await sent(chat, 'voice_message');
  assert.match(frame.file_id, /^\w+$/);
  // The test server has no transcription provider: the user is told.
  await chat.locator('.message.system.notice', { hasText: 'Voice transcription is off' }).waitFor();
  const voice = chat.locator('.message.user .message-file.voice');
  await voice.waitFor();
  assert.equal(await voice.getAttribute('data-file-name'), 'voice.webm');
  assert.equal(await voice.locator('.voice-note').textContent(), 'Not transcribed');
  await chat.waitForFunction(() => document.querySelector('.message-file.voice audio')?.src.startsWith('blob:'));
  const played = await voice.locator('audio').evaluate(async (a) => {
    await a.play();
    await new Promise((resolve) => (a.currentTime > 0 ? resolve() : a.addEventListener('timeupdate', resolve, { once: true })));
    const state = { playing: !a.paused, time: a.currentTime, src: a.src, error: a.error };
    a.pause();
    return state;
  });
  assert.equal(played.playing, true);
  assert.ok(played.time > 0);
  assert.match(played.src, /^blob:/);
  assert.equal(played.error, null);
  const upload = requests.filter((r) => r.url.endsWith('/chatbox/upload')).at(-1);
  assert.equal(upload.authorization, `Bearer ${user}`);
});

test('a recording can be cancelled (Escape) and nothing is sent', async () => {
  const count = (await sent(chat, 'voice_message')).length;
  await chat.click('#voice-btn');
  await chat.waitForSelector('#voice-recording:not([hidden])');
  await chat.keyboard.press('Escape');
  await chat.waitForSelector('#voice-recording', { state: 'hidden' });
  assert.equal(await chat.getAttribute('#voice-btn', 'aria-label'), 'Record a voice message');
  assert.equal((await sent(chat, 'voice_message')).length, count);
  assert.equal(await chat.isVisible('#upload-progress'), false);
});

test('the history shows the file, the photo and the voice note again (desktop and phone screenshots)', async () => {
  await chat.screenshot({ path: shot('chat-files-desktop.png') });
  const phone = await newPage(PHONE);
  await phone.goto(`${server.base}/chatbox/chat.html?token=${user}&session_id=${sessionId}`);
  await phone.waitForFunction(() => {
    const img = document.querySelector('.message-file.image img');
    const audio = document.querySelector('.message-file.voice audio');
    return img?.complete && img.naturalWidth > 0 && audio?.src.startsWith('blob:');
  });
  assert.equal(await phone.locator('.message-file[data-file-name="invoice.pdf"] .file-link').count(), 1);
  // Readable at 360 px: nothing scrolls sideways, every control fits.
  assert.equal(await phone.evaluate(() => document.documentElement.scrollWidth), PHONE.width);
  for (const id of ['file-upload-btn', 'camera-btn', 'voice-btn', 'message-input', 'send-btn', 'help-btn']) {
    const box = await phone.locator(`#${id}`).boundingBox();
    assert.ok(box && box.x >= 0 && box.x + box.width <= PHONE.width && box.width >= 32, `${id}: ${JSON.stringify(box)}`);
  }
  await phone.screenshot({ path: shot('chat-files-phone.png') });
  await phone.context().close();
});

test('a shared (tokenless) view names the files without fetching them', async () => {
  const res = await fetch(`${server.base}/chatbox/sessions/${sessionId}/share`, { method: 'POST', headers: { Authorization: `Bearer ${user}` } });
  const { share_token: shareToken } = await res.json();
  const page = await newPage();
  const fetched = [];
  page.on('request', (r) => { if (r.url().includes('/files/')) fetched.push(r.url()); });
  await page.goto(`${server.base}/chatbox/chat.html?share_token=${encodeURIComponent(shareToken)}`);
  await page.waitForFunction(() => document.querySelectorAll('.message-file.unavailable').length === 3);
  const labels = await page.locator('.message-file .file-label').allTextContents();
  assert.deepEqual(labels.slice(0, 2), ['invoice.pdf (300 KB)', 'photo.png (12 KB)']);
  assert.match(labels[2], /^Voice message \(\d+(\.\d)? KB\)$/);
  assert.deepEqual(fetched, [], 'no file request without a token');
  assert.equal(await page.locator('.message-file img, .message-file audio, .message-file button').count(), 0);
  await page.context().close();
});

test('controls are hidden without MediaRecorder, and when the server has the features off', async () => {
  const page = await newPage(DESKTOP, { init: 'delete window.MediaRecorder;' });
  await page.goto(`${server.base}/chatbox/chat.html?token=${token('gus')}`);
  await page.waitForFunction(() => document.getElementById('status-text').textContent === 'Connected');
  assert.equal(await page.isVisible('#file-upload-btn'), true);
  assert.equal(await page.isVisible('#voice-btn'), false, 'no recorder: no voice button');
  await page.context().close();
  const off = await startServer({ ...provider(), ENABLE_FILE_UPLOADS: 'false', ENABLE_VOICE_MESSAGES: 'false' });
  try {
    const p = await newPage();
    await p.goto(`${off.base}/chatbox/chat.html?token=${token('hal')}`);
    await p.waitForFunction(() => document.getElementById('status-text').textContent === 'Connected');
    for (const id of ['file-upload-btn', 'camera-btn', 'voice-btn']) assert.equal(await p.isVisible(`#${id}`), false, id);
    assert.equal(await p.isVisible('#send-btn'), true);
    await p.context().close();
  } finally {
    await off.stop();
  }
});

test('no page raised an uncaught error or a policy violation', () => {
  assert.deepEqual(errors, []);
});
