// A visitor whose events first meet a collector answering 503 (its spill journal is full while
// Kafka is down), then a recovered collector. Writes every event the page sent (JSON lines, one
// per event_id) so the test can check each arrived in Kafka exactly once.
//
//   node scripts/drive-retry.mjs --site URL --out events.jsonl --ready ready.flag [--timeout 90000]
//
// Creates the --ready file once the tracer has seen a 503 (the test then restarts Kafka), and
// exits 0 once a 200 came after the 503s and nothing is left to send.
import { writeFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const arg = (name, dflt) => {
  const i = process.argv.indexOf('--' + name);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const site = arg('site', 'http://127.0.0.1:8081');
const out = arg('out');
const ready = arg('ready');
const timeout = +arg('timeout', '90000');
const deadline = Date.now() + timeout;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const events = new Map();
const statuses = [];
let exitCode = 0;
try {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  ctx.on('request', (req) => {
    if (req.method() == 'POST' && new URL(req.url()).pathname.endsWith('/v1/events')) {
      try {
        for (const ev of JSON.parse(req.postData() || '{}').events || []) events.set(ev.event_id, ev);
      } catch {
        /* not ours */
      }
    }
  });
  ctx.on('response', (res) => {
    if (new URL(res.url()).pathname.endsWith('/v1/events') && res.request().method() == 'POST') statuses.push(res.status());
  });
  const page = await ctx.newPage();
  await page.goto(`${site}/?utm_source=e2e&utm_medium=test&utm_campaign=retry`);
  await page.click('#sort-price');
  const wait = async (cond, what) => {
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; statuses seen: ${statuses}`);
      await page.evaluate(() => window.aa.flush()).catch(() => {});
      await page.waitForTimeout(200);
    }
  };
  await wait(() => statuses.includes(503), 'a 503 from the collector');
  if (ready) writeFileSync(ready, 'saw 503\n');
  await page.click('#page-2'); // more events while the collector is still refusing
  await wait(() => statuses.lastIndexOf(200) > statuses.indexOf(503), 'a 200 after the 503');
  // Let the retry queue drain: a flush with nothing queued sends nothing, so wait for quiet.
  let seen = statuses.length;
  for (let quiet = 0; quiet < 10; ) {
    await wait(() => true, '');
    await page.waitForTimeout(300);
    quiet = statuses.length == seen && statuses.at(-1) == 200 ? quiet + 1 : 0;
    seen = statuses.length;
  }
} catch (e) {
  console.error(String(e));
  exitCode = 1;
} finally {
  await browser.close();
}
if (out) writeFileSync(out, [...events.values()].map((e) => JSON.stringify(e)).join('\n') + '\n');
console.log(JSON.stringify({ events: events.size, statuses }));
process.exit(exitCode || (events.size ? 0 : 1));
