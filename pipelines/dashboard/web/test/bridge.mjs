// Remote control for the pytest browser tests: Debian's Chromium through playwright-core, one page,
// commands as JSON lines on stdin ({id, op, ...}), one JSON line answer each on stdout.
// Ops: ping, goto {url}, eval {expression}, click {selector}, select {selector, value},
// fill {selector, value}, screenshot {path}, problems (page errors since the last goto), close.
import { chromium } from 'playwright-core';
import { createInterface } from 'node:readline';

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium', args: ARGS });
const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: 'en-US', timezoneId: 'UTC' });
const page = await context.newPage();
const problems = [];
page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
page.on('requestfailed', (r) => !r.url().includes('/api/stream') && problems.push(`requestfailed: ${r.url()}`));

const ops = {
  ping: async () => 'pong',
  goto: async ({ url }) => {
    await page.goto('about:blank');
    problems.length = 0; // what the previous page (and its server's shutdown) caused
    await page.goto(url, { waitUntil: 'load' });
    return page.url();
  },
  eval: async ({ expression }) => page.evaluate(expression),
  click: async ({ selector }) => page.click(selector),
  select: async ({ selector, value }) => page.selectOption(selector, value),
  fill: async ({ selector, value }) => page.fill(selector, value),
  screenshot: async ({ path }) => {
    await page.screenshot({ path, fullPage: true });
    return path;
  },
  problems: async () => problems.splice(0),
  close: async () => {
    await browser.close();
    return 'closed';
  },
};

const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  const msg = JSON.parse(line);
  let reply;
  try {
    const op = ops[msg.op];
    if (!op) throw new Error(`unknown op ${msg.op}`);
    reply = { id: msg.id, ok: true, value: (await op(msg)) ?? null };
  } catch (e) {
    reply = { id: msg.id, ok: false, error: String(e && e.stack ? e.stack.split('\n').slice(0, 3).join(' | ') : e) };
  }
  process.stdout.write(JSON.stringify(reply) + '\n');
  if (msg.op === 'close') break;
}
process.exit(0);
