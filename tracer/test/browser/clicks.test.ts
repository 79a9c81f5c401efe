import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { barrier, setup, waitFor, type Harness } from './harness';

let h: Harness;
beforeAll(async () => (h = await setup()));
afterAll(async () => h?.close());
beforeEach(() => h.reset());

/** The page records when each click happened; the merchant page compares it with its own navigation start. */
async function measuredContext() {
  const ctx = await h.context();
  await ctx.addInitScript(() => {
    addEventListener('click', (e) => (document.cookie = `click_at=${performance.timeOrigin + e.timeStamp}; path=/`), true);
  });
  return ctx;
}
const navigationDelay = (page: import('playwright-core').Page) =>
  page.evaluate(() => performance.timeOrigin - +(/click_at=([\d.]+)/.exec(document.cookie)![1]!));

describe('affiliate clicks', () => {
  it('captures a same-tab click exactly once while the page navigates away at once, without waiting for the collector', async () => {
    const ctx = await measuredContext();
    const page = await ctx.newPage();
    await page.goto(h.site.url + '/');
    await waitFor('page view', () => h.events('page_view').length == 1);
    // Baseline: an untagged link to the same merchant.
    await page.evaluate((m) => document.body.insertAdjacentHTML('afterbegin', `<a id="plain" href="${m}/merchant/p/plain">plain</a>`), h.merchant.url);
    await page.click('#plain');
    await page.waitForURL('**/merchant/p/plain');
    const baseline = await navigationDelay(page);
    await page.goBack({ waitUntil: 'commit' });
    await waitFor('page view after coming back', () => h.events('page_view').length == 2);

    h.collector.replies.push({ status: 200, delay: 1500 }); // a slow collector must not hold the navigation
    const clickedAt = Date.now();
    await page.click('tr[data-aa-product="zen-13"] a.buy');
    await page.waitForURL('**/merchant/p/zen-13**');
    const arrivedAt = Date.now();
    const delay = await navigationDelay(page);
    const clicks = await waitFor('click event', () => h.events('affiliate_click').length > 0 && h.events('affiliate_click'));
    expect(arrivedAt - clickedAt).toBeLessThan(1500);
    expect(delay).toBeLessThan(baseline + 500); // the collector answers after 1500 ms

    const click = clicks[0]!;
    expect(click).toMatchObject({
      link_id: 'zen-13-bestbuy',
      product_id: 'zen-13',
      merchant: 'bestbuy',
      position: 2,
      placement: 'comparison_table',
      chart_id: 'laptops-2026',
      destination_domain: '127.0.0.1',
      transport: 'fetch_keepalive',
    });
    expect(click.page_view_id).toBe(h.events('page_view')[1]!.page_view_id);
    expect(new URL(page.url()).searchParams.get('subid')).toBe(click.click_id);

    // Coming back later must not resend it (no retry-queue or pagehide duplicate).
    await page.goto(h.site.url + '/guides/next');
    await barrier(h, page);
    expect(h.events('affiliate_click').map((e) => e.click_id)).toEqual([click.click_id]);
    expect(h.collector.violations).toEqual([]);
    await ctx.close();
  });

  it('adds no navigation delay: click-to-navigation-start of tagged links matches untagged links (median of 5)', async () => {
    const ctx = await measuredContext();
    const page = await ctx.newPage();
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1]!;
    const tagged: number[] = [];
    const plain: number[] = [];
    for (let i = 0; i < 5; i++) {
      for (const [sel, into] of [['tr[data-aa-product="zen-13"] a.buy', tagged], ['#plain', plain]] as const) {
        await page.goto(h.site.url + '/');
        await page.evaluate((m) => document.body.insertAdjacentHTML('afterbegin', `<a id="plain" href="${m}/merchant/p/plain">plain</a>`), h.merchant.url);
        await page.click(sel);
        await page.waitForURL('**/merchant/p/**');
        into.push(await navigationDelay(page));
      }
    }
    console.log(`click → navigation start, median of 5: tagged affiliate link ${median(tagged).toFixed(1)} ms, untagged link ${median(plain).toFixed(1)} ms`);
    // A few ms of synchronous work at pointerdown, never a wait (peers: 100-500 ms timers).
    expect(median(tagged)).toBeLessThan(median(plain) + 50);
    await ctx.close();
  });

  it('captures a click that opens the merchant in a new tab exactly once', async () => {
    const ctx = await h.context();
    const page = await ctx.newPage();
    await page.goto(h.site.url + '/');
    const [popup] = await Promise.all([ctx.waitForEvent('page'), page.click('tr[data-aa-product="orbit-15"] a.buy')]);
    await popup.waitForLoadState();
    expect(popup.url()).toContain('/merchant/p/orbit-15');
    await barrier(h, page);
    const clicks = h.events('affiliate_click');
    expect(clicks).toHaveLength(1);
    expect(clicks[0]).toMatchObject({ product_id: 'orbit-15', merchant: 'amazon', position: 3 });
    await ctx.close();
  });

  it('sends one event per activation: pointerdown and its click share a click id; keyboard and middle clicks count once; right clicks not at all', async () => {
    const ctx = await h.context();
    const page = await ctx.newPage();
    await page.goto(h.site.url + '/');
    await page.evaluate(() => document.addEventListener('click', (e) => e.preventDefault())); // stay on the page
    await page.click('#hero-link');
    await page.focus('#hero-link');
    await page.keyboard.press('Enter');
    await page.click('#hero-link', { button: 'right' });
    await page.evaluate(() => document.addEventListener('auxclick', (e) => e.preventDefault()));
    await page.click('#hero-link', { button: 'middle' });
    await barrier(h, page);
    const clicks = h.events('affiliate_click');
    expect(clicks).toHaveLength(3);
    expect(new Set(clicks.map((c) => c.click_id)).size).toBe(3);
    expect(clicks[0]).toMatchObject({ link_id: 'hero-acme-amazon', product_id: 'acme-14', position: 1, placement: 'hero', chart_id: null });
    await ctx.close();
  });

  it('writes each click id into the sub-id parameter and follows link changes made by the site', async () => {
    const ctx = await h.context();
    const page = await ctx.newPage();
    await page.goto(h.site.url + '/');
    await page.evaluate(() => document.addEventListener('click', (e) => e.preventDefault()));
    const href = () => page.$eval('#hero-link', (a) => new URL((a as HTMLAnchorElement).href));
    await page.click('#hero-link');
    const first = await href();
    await page.click('#hero-link');
    const second = await href();
    await page.$eval('#hero-link', (a) => a.setAttribute('href', a.getAttribute('href')!.replace('/dp/', '/gp/') + '&price=799'));
    await page.click('#hero-link');
    const third = await href();
    await barrier(h, page);
    const ids = h.events('affiliate_click').map((e) => e.click_id);
    expect([first, second, third].map((u) => u.searchParams.get('ascsubtag'))).toEqual(ids);
    expect(second.searchParams.get('tag')).toBe('demo-20');
    expect(second.pathname).toBe('/merchant/dp/acme-14');
    expect([third.pathname, third.searchParams.get('price')]).toEqual(['/merchant/gp/acme-14', '799']);
    await ctx.close();
  });

  it('sends a touch tap once, at the click (a finger going down may start a scroll)', async () => {
    const ctx = await h.context({ hasTouch: true, isMobile: true, viewport: { width: 390, height: 844 } });
    const page = await ctx.newPage();
    await page.goto(h.site.url + '/');
    await page.evaluate(() => document.addEventListener('click', (e) => e.preventDefault()));
    await page.tap('#hero-link');
    await barrier(h, page);
    const clicks = h.events('affiliate_click');
    expect(clicks).toHaveLength(1);
    expect(clicks[0]!.context.device_class).toBe('mobile');
    await ctx.close();
  });

  it('links a click to the earlier impression of the same product', async () => {
    const ctx = await h.context();
    const page = await ctx.newPage();
    await page.goto(h.site.url + '/');
    await page.evaluate(() => document.addEventListener('click', (e) => e.preventDefault()));
    await page.locator('tr[data-aa-product="acme-14"]').scrollIntoViewIfNeeded();
    const imp = await waitFor('impression of acme-14 in the chart', () =>
      h.events('product_impression').find((e) => e.product_id == 'acme-14' && e.chart_id == 'laptops-2026'),
    );
    await page.click('tr[data-aa-product="acme-14"] a.buy');
    await barrier(h, page);
    const [click] = h.events('affiliate_click');
    expect(click!.impression_id).toBe(imp.impression_id);
    expect(click!.position).toBe(imp.position);
    await ctx.close();
  });

  it('routes a data-aa-redirect link through the collector /r redirect, recording the click there and only there', async () => {
    const ctx = await h.context();
    const page = await ctx.newPage();
    await page.goto(h.site.url + '/');
    await waitFor('page view', () => h.events('page_view').length == 1);
    await page.click('tr[data-aa-product="acme-16"] a.buy');
    await page.waitForURL('**/merchant/p/acme-16**');
    const r = h.collector.requests.find((q) => q.path == '/r')!;
    expect(r.events[0]).toMatchObject({ event_type: 'affiliate_click', product_id: 'acme-16', merchant: 'walmart', transport: 'redirect' });
    expect(r.events[0]!.context.page_title).toBe('Best laptops 2026 – comparison (tracer demo)'); // UTF-8 survives base64url
    expect(new URL(page.url()).searchParams.get('subid')).toBe(r.events[0]!.click_id);
    await page.goto(h.site.url + '/guides/next');
    await barrier(h, page);
    expect(h.events('affiliate_click')).toHaveLength(1);
    expect(h.collector.violations).toEqual([]);
    await ctx.close();
  });
});
