// Shared set-up for the browser tests: Debian's Chromium through playwright-core, the stub
// collector, the demo site and a merchant site on separate 127.0.0.1 ports (separate origins).
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';
import { startSite } from '../../scripts/serve.mjs';
import { startCollector, type Collector, type WireEvent } from './collector';

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
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

type Site = Awaited<ReturnType<typeof startSite>>;

export interface Harness {
  browser: Browser;
  collector: Collector;
  site: Site;
  merchant: Site;
  /** Config overrides merged into window.aaConfig by /config.js (tests flush every 500 ms instead of 3 s). */
  config: Record<string, unknown>;
  /** Script the demo pages load instead of /aa.js (e.g. '/aa.core.js'). */
  script: string;
  /** A fresh browser context (empty storage) with the test clock installed. */
  context(options?: BrowserContextOptions): Promise<BrowserContext>;
  /** Events the collector received (any status), optionally of one type, barrier events excluded. */
  events(type?: string): WireEvent[];
  /** Clear recorded requests, queued replies and config overrides between tests. */
  reset(): void;
  close(): Promise<void>;
}

export async function setup(): Promise<Harness> {
  const collector = await startCollector();
  const h = { config: { flushInterval: 500 }, script: '/aa.js' } as unknown as Harness;
  const merchant = await startSite({ collector: collector.url });
  // The embedded chart iframe is served by the merchant server's origin: cross-origin, as on Wix.
  const site2 = await startSite({
    collector: collector.url,
    merchant: merchant.url + '/merchant',
    frameOrigin: merchant.url,
    config: () => h.config,
    script: () => h.script,
  });
  // Playwright turns the back/forward cache off by default; visitors' browsers have it on.
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, ignoreDefaultArgs: ['--disable-back-forward-cache'] });
  return Object.assign(h, {
    browser,
    collector,
    site: site2,
    merchant,
    async context(options?: BrowserContextOptions) {
      const ctx = await browser.newContext({ viewport: { width: 1280, height: 720 }, ...options });
      // Test clock: pages add localStorage.test_skew (ms) to Date.now, so a test can jump 31 minutes.
      await ctx.addInitScript(() => {
        let skew = 0;
        try {
          skew = +(localStorage.getItem('test_skew') || 0);
        } catch {
          /* opaque origin */
        }
        const now = Date.now;
        Date.now = () => now() + skew;
      });
      return ctx;
    },
    events(type?: string) {
      return collector.requests
        .filter((r) => r.method != 'OPTIONS')
        .flatMap((r) => r.events)
        .filter((e) => (!type || e.event_type == type) && e.chart_id != '__barrier__');
    },
    reset() {
      collector.requests.length = 0;
      collector.replies.length = 0;
      collector.violations.length = 0;
      h.config = { flushInterval: 500 };
      h.script = '/aa.js';
    },
    async close() {
      await browser.close();
      await Promise.all([collector.close(), site2.close(), merchant.close()]);
    },
  });
}

/** Poll until fn returns a truthy value; fail after the deadline with what was seen. */
export async function waitFor<T>(what: string, fn: () => T | undefined | null | false, seen?: () => unknown, timeout = 8000): Promise<T> {
  const end = Date.now() + timeout;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; seen: ${JSON.stringify(seen ? seen() : null)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

let barriers = 0;
/**
 * Everything the page queued before this call has reached the collector once this returns:
 * batches go out in order with one regular flush in flight, so a marker event sent last
 * arrives last. Barrier events are excluded from Harness.events().
 */
export async function barrier(h: Harness, page: Page): Promise<void> {
  const mark = `b${++barriers}`;
  await page.evaluate((m) => {
    const aa = (window as unknown as { aa: { chart: (...a: unknown[]) => void; flush: () => void } }).aa;
    aa.chart('__barrier__', 'sort', { field: m });
    aa.flush();
  }, mark);
  await waitFor(`barrier ${mark}`, () =>
    h.collector.requests.some((r) => r.status == 200 && r.events.some((e) => e.chart_id == '__barrier__' && e.field == mark)),
  );
}
