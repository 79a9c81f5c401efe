import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { barrier, setup, waitFor, type Harness } from './harness';

let h: Harness;
beforeAll(async () => (h = await setup()));
afterAll(async () => h?.close());
beforeEach(() => h.reset());

const paths = () => h.events('page_view').map((e) => `${e.context.page_path} ${e.navigation_type}`);

describe('page lifecycle', () => {
  it('counts a back navigation once, as a bfcache restore when the page comes from the back/forward cache', async () => {
    const ctx = await h.context();
    await ctx.addInitScript(() => addEventListener('pageshow', (e) => ((window as unknown as { restored: boolean }).restored = e.persisted)));
    const page = await ctx.newPage();
    await page.goto(h.site.url + '/');
    await waitFor('first page view', () => h.events('page_view').length == 1);
    await page.click('text=MPA: laptops under $1000');
    await waitFor('second page view', () => h.events('page_view').length == 2);
    await page.goBack({ waitUntil: 'commit' });
    await waitFor('page view after back', () => h.events('page_view').length == 3, paths);
    const restored = await page.evaluate(() => (window as unknown as { restored: boolean }).restored);
    await barrier(h, page);
    expect(paths()).toEqual(['/ navigate', '/guides/laptops-under-1000 navigate', `/ ${restored ? 'bfcache_restore' : 'back_forward'}`]);
    console.log(`back navigation restored from bfcache: ${restored}`);
    await ctx.close();
  });

  it('sends one page view for a speculation-rules navigation, typed prerender when Chromium really prerendered it', async () => {
    const ctx = await h.context();
    const page = await ctx.newPage();
    await page.goto(h.site.url + '/');
    await page.evaluate(() => {
      const s = document.createElement('script');
      s.type = 'speculationrules';
      s.textContent = JSON.stringify({ prerender: [{ source: 'list', urls: ['/guides/prerendered'] }] });
      document.head.append(s);
      document.body.insertAdjacentHTML('afterbegin', '<a id="pre" href="/guides/prerendered">prerendered</a>');
    });
    await waitFor('speculative request', () => h.site.requests.some((r: { path: string }) => r.path == '/guides/prerendered'));
    await page.click('#pre');
    await waitFor('page view of the shown page', () => h.events('page_view').length == 2, paths);
    const prerendered = await page.evaluate(() => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).activationStart > 0);
    await barrier(h, page);
    expect(paths()).toEqual(['/ navigate', `/guides/prerendered ${prerendered ? 'prerender' : 'navigate'}`]);
    console.log(`speculation rules: page was ${prerendered ? 'prerendered' : 'only prefetched'} by this Chromium`);
    await ctx.close();
  });

  it('waits while the document is prerendering and sends exactly one page view, typed prerender, on activation', async () => {
    const ctx = await h.context();
    // The Prerender API as a prerendered document sees it (this headless Chromium prefetches instead).
    await ctx.addInitScript(() => {
      const w = window as unknown as { pre: boolean };
      w.pre = true;
      Object.defineProperty(Document.prototype, 'prerendering', { get: () => w.pre, configurable: true });
      Object.defineProperty(PerformanceNavigationTiming.prototype, 'activationStart', { get: () => (w.pre ? 0 : 42), configurable: true });
    });
    const page = await ctx.newPage();
    await page.goto(h.site.url + '/');
    await page.mouse.wheel(0, 2000);
    await page.waitForLoadState('networkidle');
    expect(h.collector.requests).toEqual([]);
    await page.evaluate(() => {
      (window as unknown as { pre: boolean }).pre = false;
      document.dispatchEvent(new Event('prerenderingchange'));
    });
    await waitFor('page view on activation', () => h.events('page_view').length == 1);
    await barrier(h, page);
    expect(paths()).toEqual(['/ prerender']);
    await ctx.close();
  });

  it("takes Wix's analytics PageView events as navigations, once per route, with the Wix page id", async () => {
    const ctx = await h.context();
    await ctx.addInitScript(() => {
      const w = window as unknown as { wixDevelopersAnalytics: unknown; wixEmit: (n: string, d: unknown) => void };
      w.wixDevelopersAnalytics = { register: (_id: string, cb: (n: string, d: unknown) => void) => (w.wixEmit = cb) };
    });
    const page = await ctx.newPage();
    await page.goto(h.site.url + '/');
    await page.evaluate(() => {
      const w = window as unknown as { wixEmit: (n: string, d: unknown) => void };
      w.wixEmit('PageView', { pageId: 'home' }); // Wix reports the landing page too: not a second page view
      history.replaceState({}, '', '/wix-router/page-2'); // a navigation the tracer does not see by itself
      w.wixEmit('PageView', { pageId: 'p2' });
      w.wixEmit('PageView', { pageId: 'p2' });
    });
    await barrier(h, page);
    expect(h.events('page_view').map((e) => [e.context.page_path, e.navigation_type, e.wix_page_id])).toEqual([
      ['/', 'navigate', null],
      ['/wix-router/page-2', 'spa', 'p2'],
    ]);
    await ctx.close();
  });

  it('gives interactions inside a cross-origin chart iframe the parent page session and page view', async () => {
    const ctx = await h.context();
    const page = await ctx.newPage();
    await page.goto(h.site.url + '/frame-host.html');
    const frame = page.frameLocator('#embed');
    await frame.locator('#frame-sort').click();
    const [popup] = await Promise.all([ctx.waitForEvent('page'), frame.locator('#frame-buy').click()]);
    await popup.waitForLoadState();
    await waitFor('chart interaction and click from the iframe', () => h.events('chart_interaction').length == 1 && h.events('affiliate_click').length == 1);
    await barrier(h, page);
    const pv = h.events('page_view')[0]!;
    const fromFrame = [...h.events('chart_interaction'), ...h.events('affiliate_click'), ...h.events('product_impression')];
    expect(fromFrame.map((e) => e.event_type).sort()).toEqual(['affiliate_click', 'chart_interaction', 'product_impression', 'product_impression']);
    for (const e of fromFrame) {
      expect(e.page_view_id).toBe(pv.page_view_id);
      expect(e.context.session_id).toBe(pv.context.session_id);
      expect(e.context.page_path).toBe('/frame-host.html');
    }
    expect(h.events('chart_interaction')[0]).toMatchObject({ chart_id: 'embedded-chart', action: 'sort', field: 'price', value: 'desc', visible_product_order: ['zen-13', 'orbit-15'] });
    expect(h.events('affiliate_click')[0]).toMatchObject({ product_id: 'zen-13', merchant: 'bestbuy', chart_id: 'embedded-chart', position: 1 });
    expect(h.events('affiliate_click')[0]!.impression_id).toBe(h.events('product_impression').find((e) => e.product_id == 'zen-13')!.impression_id);
    expect(h.collector.violations).toEqual([]);
    await ctx.close();
  });

  it('ESM build: init() from the module tracks like the snippet', async () => {
    const ctx = await h.context();
    const page = await ctx.newPage();
    await page.goto(h.site.url + '/merchant/esm'); // a page of the site origin without the snippet
    // A string, so that vitest does not rewrite the dynamic import.
    await page.evaluate(`import('/aa.mjs').then((m) => { window.aa = m.init({ site: 'esm-site', endpoint: '${h.collector.url}', flushInterval: 500 }) })`);
    const [pv] = await waitFor('page view', () => h.events('page_view').length > 0 && h.events('page_view'));
    expect(pv!.context).toMatchObject({ site_id: 'esm-site', page_path: '/merchant/esm' });
    await ctx.close();
  });

  it('core build: page views and affiliate clicks work, optional features are absent', async () => {
    h.script = '/aa.core.js';
    const ctx = await h.context();
    const page = await ctx.newPage();
    await page.goto(h.site.url + '/');
    await page.evaluate(() => document.addEventListener('click', (e) => e.preventDefault()));
    await page.click('tr[data-aa-product="zen-13"] a.buy');
    await page.click('#sort-price');
    await waitFor('page view and click', () => h.events('page_view').length == 1 && h.events('affiliate_click').length == 1);
    await page.evaluate(() => (window as unknown as { aa: { flush(): void } }).aa.flush());
    await page.waitForLoadState('networkidle');
    expect(h.events().map((e) => e.event_type).sort()).toEqual(['affiliate_click', 'page_view']);
    expect(h.events('affiliate_click')[0]).toMatchObject({ product_id: 'zen-13', position: 2, chart_id: 'laptops-2026', impression_id: null });
    await ctx.close();
  });
});
