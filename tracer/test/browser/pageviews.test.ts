import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { barrier, setup, waitFor, type Harness } from './harness';

let h: Harness;
beforeAll(async () => (h = await setup()));
afterAll(async () => h?.close());
beforeEach(() => h.reset());

describe('page views and sessions', () => {
  it('sends one page view on load as a CORS-simple text/plain POST with no preflight, valid against the Avro contract', async () => {
    const ctx = await h.context();
    const page = await ctx.newPage();
    await page.goto(h.site.url + '/?utm_source=newsletter&utm_campaign=spring&gclid=abc123', { referer: 'https://search.example/' });
    const [pv] = await waitFor('page view', () => h.events('page_view').length > 0 && h.events('page_view'));
    await barrier(h, page);
    expect(h.events('page_view')).toHaveLength(1);
    expect(pv!.navigation_type).toBe('navigate');
    expect(pv!.context).toMatchObject({
      site_id: 'demo',
      page_path: '/',
      page_title: 'Best laptops 2026 – comparison (tracer demo)',
      referrer: 'https://search.example/',
      utm: { source: 'newsletter', campaign: 'spring' },
      gclid: 'abc123',
      session_index: 1,
      device_class: 'desktop',
      viewport_width: 1280,
      viewport_height: 720,
      consent_state: 'not_required',
      tracker_version: 'js-1.0.0',
    });
    expect(pv!.context.timezone).toBeTruthy();
    expect(pv!.event_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(h.collector.requests.filter((r) => r.method == 'OPTIONS')).toEqual([]);
    for (const r of h.collector.requests) expect(r.contentType).toBe('text/plain;charset=UTF-8');
    expect(h.collector.violations).toEqual([]);
    await ctx.close();
  });

  it('keeps the session, visitor and landing UTM across a new document (Wix MPA) with the previous URL as referrer', async () => {
    const ctx = await h.context();
    const page = await ctx.newPage();
    await page.goto(h.site.url + '/?utm_source=newsletter');
    await waitFor('first page view', () => h.events('page_view').length == 1);
    await page.click('text=MPA: laptops under $1000');
    await waitFor('second page view', () => h.events('page_view').length == 2, () => h.events('page_view'));
    const [a, b] = h.events('page_view');
    expect(b!.context.page_path).toBe('/guides/laptops-under-1000');
    expect(b!.context.session_id).toBe(a!.context.session_id);
    expect(b!.context.visitor_id).toBe(a!.context.visitor_id);
    expect(b!.context.session_index).toBe(1);
    expect(b!.context.utm).toEqual({ source: 'newsletter' });
    expect(b!.context.referrer).toBe(h.site.url + '/?utm_source=newsletter');
    expect(b!.page_view_id).not.toBe(a!.page_view_id);
    await ctx.close();
  });

  it('starts a new session (same visitor, next index) after 30 minutes without activity', async () => {
    const ctx = await h.context();
    const page = await ctx.newPage();
    await page.goto(h.site.url + '/');
    await waitFor('first page view', () => h.events('page_view').length == 1);
    await page.evaluate(() => localStorage.setItem('test_skew', String(29 * 60 * 1000)));
    await page.reload();
    await waitFor('page view after 29 min', () => h.events('page_view').length == 2);
    await page.evaluate(() => localStorage.setItem('test_skew', String((29 + 31) * 60 * 1000)));
    await page.reload();
    await waitFor('page view after 31 more min', () => h.events('page_view').length == 3);
    const [a, b, c] = h.events('page_view');
    expect(b!.context.session_id).toBe(a!.context.session_id);
    expect(b!.navigation_type).toBe('reload');
    expect(c!.context.session_id).not.toBe(a!.context.session_id);
    expect(c!.context.visitor_id).toBe(a!.context.visitor_id);
    expect(c!.context.session_index).toBe(2);
    await ctx.close();
  });

  it('counts one page view per SPA route change and none for replaceState, hash changes or the same path', async () => {
    const ctx = await h.context();
    const page = await ctx.newPage();
    await page.goto(h.site.url + '/');
    await waitFor('landing page view', () => h.events('page_view').length == 1);
    await page.click('text=SPA: deals');
    await page.evaluate(() => {
      history.replaceState({}, '', '/spa/deals?sort=price');
      location.hash = 'table';
      history.pushState({}, '', '/spa/deals?x=1');
    });
    await page.click('text=SPA: reviews');
    await page.goBack();
    await page.waitForURL('**/spa/deals?x=1');
    await barrier(h, page);
    const pvs = h.events('page_view');
    expect(pvs.map((e) => [e.context.page_path, e.navigation_type])).toEqual([
      ['/', 'navigate'],
      ['/spa/deals', 'spa'],
      ['/spa/reviews', 'spa'],
      ['/spa/deals', 'spa'],
    ]);
    expect(pvs[1]!.context.referrer).toBe(h.site.url + '/');
    expect(pvs[2]!.context.referrer).toBe(h.site.url + '/spa/deals?x=1');
    expect(new Set(pvs.map((e) => e.page_view_id)).size).toBe(4);
    await ctx.close();
  });
});
