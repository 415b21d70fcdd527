// Dev mode: the links the server prints open the pages with ready tokens.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launchBrowser, startServer } from './support.mjs';

let server;
let browser;

before(async () => {
  server = await startServer({}, { dev: true });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

function link(label) {
  const line = server.output().split('\n').find((l) => l.startsWith(`${label}:`));
  assert.ok(line, `the banner prints "${label}":\n${server.output()}`);
  return line.slice(label.length + 1).trim();
}

test('the printed chat link opens a working chat with the demo model', async () => {
  const url = link('user chat');
  assert.match(url, /\/chatbox\/chat\.html\?token=ey/);
  const page = await browser.newPage();
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById('status-text').textContent === 'Connected');
  assert.equal(new URL(page.url()).searchParams.get('token'), null);
  await page.fill('#message-input', 'hi there');
  await page.press('#message-input', 'Enter');
  await page.waitForSelector('.message.ai[data-done="true"]');
  assert.match(await page.textContent('.message.ai .message-content'), /You said: "hi there"/);
  await page.close();
});

test('the printed sessions link lists that conversation', async () => {
  const page = await browser.newPage();
  await page.goto(link('user sessions'));
  await page.waitForSelector('.session-item');
  assert.equal(await page.textContent('.session-name'), 'hi there');
  await page.close();
});
