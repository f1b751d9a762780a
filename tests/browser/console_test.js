// Drives the planner's web console in headless Chromium (playwright-core, Debian's /usr/bin/chromium)
// against a running dev stack; run by console_browser_test.cpp, which starts the stack and sets
// CONSOLE_URL, CONSOLE_TOKEN, CONSOLE_CHROMIUM, CONSOLE_SCREENSHOTS and NODE_PATH. Every claim about
// the page is checked through the API too. Exits non-zero on the first failed check.
'use strict';

const assert = require('node:assert/strict');
const path = require('node:path');
const {chromium} = require('playwright-core');

const url = process.env.CONSOLE_URL;
const token = process.env.CONSOLE_TOKEN;
const shots = process.env.CONSOLE_SCREENSHOTS;
assert.ok(url && token && shots, 'CONSOLE_URL, CONSOLE_TOKEN and CONSOLE_SCREENSHOTS must be set');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const log = (...a) => console.log('[console_test]', ...a);

async function api(method, p, body, tok = token) {
  const headers = {};
  if (tok) headers.Authorization = `Bearer ${tok}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(url + p, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
  return {status: res.status, body: await res.json().catch(() => null)};
}

async function refreshes() {
  const a = await api('GET', '/v1/refreshes?limit=500');
  assert.equal(a.status, 200, `GET /v1/refreshes: ${JSON.stringify(a.body)}`);
  return a.body.refreshes;
}

// Polls `check` (an async function returning a truthy value when done) until it holds.
async function until(what, check, timeoutMs) {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await sleep(200);
  }
  throw new Error(`gave up after ${timeoutMs / 1000} s waiting for ${what}${last ? ': ' + last.message : ''}`);
}

async function main() {
  const browser = await chromium.launch({
    executablePath: process.env.CONSOLE_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
  const problems = [];
  try {
    // ---- with the token (passed once in the fragment)
    const ctx = await browser.newContext({viewport: {width: 1280, height: 1000}});
    const page = await ctx.newPage();
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('dialog', (d) => { log('confirm:', d.message()); d.accept(); });

    const shell = await fetch(url + '/');
    assert.equal(shell.status, 200, 'the console loads without the token');
    assert.match(shell.headers.get('content-security-policy') || '', /default-src 'none'/);

    await page.goto(`${url}/#token=${encodeURIComponent(token)}`);
    assert.equal(new URL(page.url()).hash, '', 'the token leaves the address bar');
    await page.waitForSelector('#running p.empty, #running .running-refresh');
    await page.waitForFunction(() => document.getElementById('token-state').textContent.includes('token set'));
    assert.equal(await page.isVisible('#banner'), false, 'no error banner with the right token');

    // A request made from the page starts a refresh.
    const before = new Set((await refreshes()).map((r) => r.refresh_id));
    await page.selectOption('#request-media', 'image');
    await page.selectOption('#request-mode', 'full');
    await page.click('#request-button');
    const result = await page.waitForSelector('#action-result.ok', {timeout: 15000});
    const text = await result.textContent();
    const id = (/refresh ([0-9a-f-]{36})/.exec(text) || [])[1];
    assert.ok(id, `the page names the requested refresh: "${text}"`);
    assert.ok(!before.has(id));
    const asked = await api('GET', `/v1/refreshes/${id}`);
    assert.equal(asked.status, 200, 'the API knows the refresh requested from the page');
    assert.ok(['queued', 'running'].includes(asked.body.status), `it is queued or running: ${asked.body.status}`);
    log('requested from the page:', id);

    // Its progress moves, and its shards are drawn.
    const sel = `.running-refresh[data-refresh-id="${id}"]`;
    const progress = async () => page.$eval(`${sel} progress.documents`, (p) => ({value: p.value, max: p.max}));
    const first = await until('the refresh to be indexing with a progress bar', async () => {
      const phase = await page.$eval(`${sel} .phase`, (e) => e.textContent).catch(() => '');
      if (phase !== 'indexing') return null;
      const p = await progress();
      return p.value > 0 && p.max > 1 && p.value < p.max ? p : null;
    }, 120000);
    const cells = await page.$$eval(`${sel} .shard-grid .cell`, (cs) => cs.map((c) => ({cls: c.className, title: c.title})));
    const detail = (await api('GET', `/v1/refreshes/${id}`)).body;
    assert.ok(cells.length > 1, 'the shard grid has a cell per shard');
    assert.equal(cells.length, detail.shards.total, 'one cell per shard the API lists');
    assert.ok(cells.every((c) => /^cell (pending|running|completed|failed)$/.test(c.cls)), JSON.stringify(cells.slice(0, 3)));
    assert.ok(cells.every((c) => /^shard \d+: \w+, attempt \d+/.test(c.title)), cells[0].title);
    const shardsApi = await api('GET', `/v1/refreshes/${id}/shards`);
    assert.equal(shardsApi.status, 200);
    assert.equal(shardsApi.body.shards.length, cells.length);
    await page.screenshot({path: path.join(shots, 'console-running.png'), fullPage: true});
    const second = await until('the progress bar to move', async () => {
      const p = await progress().catch(() => null);
      return p && p.value > first.value ? p : null;
    }, 30000);
    log(`progress moved from ${first.value} to ${second.value} of ${first.max}`);
    const rateText = await page.$eval(`${sel} .rate`, (e) => e.textContent).catch(() => '');
    assert.match(rateText, /documents\/s/);
    await page.$eval(`${sel} .eta`, (e) => e.textContent).then((t) => assert.match(t, /^ETA /));
    await page.screenshot({path: path.join(shots, 'console-progress.png'), fullPage: true});

    // It completes; its report shows per-provider before -> after counts.
    const row = `#recent tr.refresh-row[data-refresh-id="${id}"]`;
    await page.waitForSelector(`${row}[data-status="completed"]`, {timeout: 240000});
    const done = (await api('GET', `/v1/refreshes/${id}`)).body;
    assert.equal(done.status, 'completed', 'the API says the refresh completed');
    await until('the phase times in the row', async () => (await page.$eval(`${row} td.phases`, (e) => e.textContent)).includes('indexing'), 10000);
    await page.click(`${row} button.toggle-report`);
    await page.waitForSelector(`tr.report[data-refresh-id="${id}"] .provider-row`);
    const providers = await page.$$eval(`tr.report[data-refresh-id="${id}"] .provider-row`,
      (rs) => rs.map((r) => [...r.cells].map((c) => c.textContent)));
    assert.equal(providers.length, done.report.per_provider.length, 'a row per provider of the report');
    for (const p of done.report.per_provider) {
      const shown = providers.find((r) => r[0] === p.provider);
      assert.ok(shown, `provider ${p.provider} shown`);
      assert.equal(shown[1], p.before.toLocaleString('en-US'));
      assert.equal(shown[2], '→');
      assert.equal(shown[3], p.after.toLocaleString('en-US'));
    }
    assert.equal(await page.$$eval('#running .running-refresh', (r) => r.length), 0, 'nothing runs any more');
    await page.screenshot({path: path.join(shots, 'console-report.png'), fullPage: true});
    log('report shown for', providers.length, 'providers');

    // A second refresh requested from the page, seen running next to the first one's report: the
    // overview picture of docs/console.png.
    await page.click('#request-button');
    await page.waitForFunction((first) => {
      const r = document.getElementById('action-result');
      return r.className === 'ok' && /refresh [0-9a-f-]{36}/.test(r.textContent) && !r.textContent.includes(first);
    }, id, {timeout: 15000});
    const id2 = /refresh ([0-9a-f-]{36})/.exec(await page.textContent('#action-result'))[1];
    const sel2 = `.running-refresh[data-refresh-id="${id2}"]`;
    await until('the second refresh to be indexing', async () => {
      const phase = await page.$eval(`${sel2} .phase`, (e) => e.textContent).catch(() => '');
      const p = await page.$eval(`${sel2} progress.documents`, (e) => e.value).catch(() => 0);
      const running = await page.$$eval(`${sel2} .shard-grid .cell.completed`, (c) => c.length).catch(() => 0);
      return phase === 'indexing' && p > 0 && running > 2;
    }, 120000);
    assert.equal((await api('GET', `/v1/refreshes/${id2}`)).body.status, 'running');
    await page.screenshot({path: path.join(shots, 'console.png'), fullPage: true});

    // When the API does not answer, the page says so and keeps trying.
    await page.route('**/v1/**', (r) => r.abort('connectionrefused'));
    await page.waitForFunction(() => {
      const b = document.getElementById('banner');
      return !b.hidden && b.textContent.includes('does not answer');
    }, null, {timeout: 15000});
    await page.screenshot({path: path.join(shots, 'console-api-down.png'), fullPage: true});
    await page.unroute('**/v1/**');
    await page.waitForFunction(() => document.getElementById('banner').hidden, null, {timeout: 15000});

    // The second refresh kept the first one's generation (refresh.keep_previous): the page shows
    // it per media type, and its Roll back button puts it back live.
    const row2 = `#recent tr.refresh-row[data-refresh-id="${id2}"]`;
    await page.waitForSelector(`${row2}[data-status="completed"]`, {timeout: 240000});
    const firstIndex = done.indices.new;
    assert.ok(firstIndex, 'the first refresh names its index');
    const media = '#media tr[data-media="image"]';
    await until('the kept generation of image with its Roll back button', async () => {
      const kept = await page.$eval(`${media} td:nth-child(4)`, (e) => e.textContent);
      const enabled = await page.$eval(`${media} button.rollback`, (b) => !b.disabled);
      return kept.includes(firstIndex) && kept.includes(id2.slice(0, 8)) && enabled;
    }, 20000);
    const listed = (await api('GET', '/v1/media')).body.media.find((m) => m.media_type === 'image');
    assert.equal(listed.kept.index, firstIndex, 'the API keeps the first generation');
    assert.equal(listed.kept.refresh_id, id2);
    await page.screenshot({path: path.join(shots, 'console-kept.png'), fullPage: true});
    await page.click(`${media} button.rollback`);
    await page.waitForFunction(() => {
      const r = document.getElementById('action-result');
      return r.className === 'ok' && r.textContent.startsWith('Roll back of image requested');
    }, null, {timeout: 15000});
    const id3 = /refresh ([0-9a-f-]{36})/.exec(await page.textContent('#action-result'))[1];
    await page.waitForSelector(`#recent tr.refresh-row[data-refresh-id="${id3}"][data-status="completed"]`,
                               {timeout: 120000});
    const rolled = (await api('GET', `/v1/refreshes/${id3}`)).body;
    assert.equal(rolled.mode, 'rollback');
    const after = (await api('GET', '/v1/media')).body.media.find((m) => m.media_type === 'image');
    assert.equal(after.live_index, firstIndex, 'the alias is back on the first generation');
    assert.equal(after.kept, null, 'nothing is kept any more');
    await until('the Roll back button to be off again', async () =>
      page.$eval(`${media} button.rollback`, (b) => b.disabled && b.title === 'nothing is kept'), 20000);
    log('rolled back from the page:', id3);
    await ctx.close();

    // ---- without the token, then with a wrong one: the buttons are refused, nothing starts
    const count = (await refreshes()).length;
    const anon = await browser.newContext({viewport: {width: 1280, height: 800}});
    const bare = await anon.newPage();
    bare.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    bare.on('dialog', (d) => d.accept());
    await bare.goto(`${url}/`);
    await bare.waitForFunction(() => {
      const b = document.getElementById('banner');
      return !b.hidden && b.textContent.includes('needs its token');
    }, null, {timeout: 15000});
    await bare.click('#request-button');
    const refused = await bare.waitForSelector('#action-result.refused', {timeout: 15000});
    assert.match(await refused.textContent(), /refused: the API needs its token \(it answered 401\)/);
    await bare.screenshot({path: path.join(shots, 'console-no-token.png'), fullPage: true});

    await bare.fill('#token', 'not-the-token');
    await bare.click('#token-form button[type=submit]');
    await bare.waitForFunction(() => document.getElementById('banner').textContent.includes('token is wrong'), null,
                               {timeout: 15000});
    await bare.click('#request-button');
    await bare.waitForFunction(() => {
      const r = document.getElementById('action-result');
      return r.className === 'refused' && r.textContent.includes('the token is wrong');
    }, null, {timeout: 15000});
    await sleep(1000);
    assert.equal((await refreshes()).length, count, 'no refresh was started without the right token');
    assert.equal((await api('POST', '/v1/refreshes', {media_type: 'image'}, 'not-the-token')).status, 401);
    await anon.close();

    assert.deepEqual(problems, [], 'no script errors on the page');
    log('all checks passed; screenshots in', shots);
  } finally {
    await browser.close();
  }
}

main().then(() => process.exit(0), (e) => {
  console.error('[console_test] FAILED:', e && e.stack ? e.stack : e);
  process.exit(1);
});
