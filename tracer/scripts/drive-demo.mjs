// Drives the demo comparison page in headless Chromium the way a visitor would and writes every
// event the browser sent (JSON lines, one per event_id) so an end-to-end test can check that each
// arrived exactly once downstream (Kafka, lake). Works against the real collector.
//
//   node scripts/drive-demo.mjs --site http://127.0.0.1:8081 [--out events.jsonl]
//
// Steps: landing page view (with UTM), impressions of every row, each chart action (sort, filter,
// expand, collapse, compare, paginate), two SPA route changes, then an affiliate click that leaves
// for the merchant in the same tab at once. Exit code 1 if the page sent nothing.
import { writeFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const arg = (name, dflt) => {
  const i = process.argv.indexOf('--' + name);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const site = arg('site', 'http://127.0.0.1:8081');
const out = arg('out');

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const events = new Map();
const record = (ev) => ev && ev.event_id && events.set(ev.event_id, ev);
try {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  ctx.on('request', (req) => {
    const url = new URL(req.url());
    if (req.method() == 'POST' && url.pathname.endsWith('/v1/events')) {
      try {
        for (const ev of JSON.parse(req.postData() || '{}').events || []) record(ev);
      } catch {
        /* not ours */
      }
    } else if (url.pathname.endsWith('/r') && url.searchParams.has('e')) {
      record(JSON.parse(Buffer.from(url.searchParams.get('e'), 'base64url').toString('utf8')));
    }
  });
  const page = await ctx.newPage();
  await page.goto(`${site}/?utm_source=e2e&utm_medium=test&utm_campaign=drive-demo`);
  const rows = () => page.$$eval('[data-aa-chart] tr[data-aa-product]', (r) => r.map((x) => x.getAttribute('data-aa-product')));
  for (const p of await rows()) await page.locator(`tr[data-aa-product="${p}"]`).scrollIntoViewIfNeeded();
  await page.click('#sort-price');
  await page.selectOption('#filter-brand', 'zen');
  await page.click('tr[data-aa-product="zen-14"] .expand');
  await page.click('tr[data-aa-product="zen-14"] .expand');
  await page.check('tr[data-aa-product="zen-13"] .compare');
  await page.selectOption('#filter-brand', '');
  await page.click('#page-2');
  await page.click('#page-1');
  // Chart interactions are recorded once the chart has re-rendered (250 ms): poll for all eight.
  const charts = () => [...events.values()].filter((e) => e.event_type == 'chart_interaction').length;
  for (const end = Date.now() + 5000; charts() < 8 && Date.now() < end; ) {
    await page.evaluate(() => window.aa.flush());
    await page.waitForTimeout(50);
  }
  if (charts() < 8) throw new Error(`only ${charts()} of 8 chart interactions were sent`);
  await page.click('text=SPA: deals');
  await page.click('text=SPA: reviews');
  // Send what is queued now: requests a page makes while it unloads are not all reported to
  // Playwright, and this list must be complete.
  await page.evaluate(() => window.aa.flush());
  await page.waitForLoadState('networkidle');
  await page.click('tr[data-aa-product="zen-13"] a.buy'); // leaves for the merchant at once
  await page.waitForURL('**/merchant/**');
  await ctx.close(); // the browser finishes keepalive requests
} finally {
  await browser.close();
}
const lines = [...events.values()].map((e) => JSON.stringify(e));
if (out) writeFileSync(out, lines.join('\n') + '\n');
const counts = {};
for (const e of events.values()) counts[e.event_type] = (counts[e.event_type] || 0) + 1;
console.log(JSON.stringify({ site, events: events.size, by_type: counts }));
process.exit(events.size ? 0 : 1);
