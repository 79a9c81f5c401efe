import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { barrier, setup, waitFor, type Harness } from './harness';

let h: Harness;
beforeAll(async () => (h = await setup()));
afterAll(async () => h?.close());
beforeEach(() => h.reset());

const delivered = (type: string) => h.collector.delivered().filter((e) => e.event_type == type);

describe('delivery', () => {
  it('keeps events the collector answered 503 in localStorage and delivers them exactly once from the next page after recovery', async () => {
    const ctx = await h.context();
    const page = await ctx.newPage();
    h.collector.replies.push({ status: 503, retryAfter: 1 });
    await page.goto(h.site.url + '/');
    await waitFor('the 503', () => h.collector.requests.some((r) => r.status == 503));
    const queued = await page.evaluate(() => JSON.parse(localStorage.getItem('aa_q') || 'null'));
    expect(queued.e.map((e: { event_type: string }) => e.event_type)).toContain('page_view');
    const lost = h.collector.requests.find((r) => r.status == 503)!.events.map((e) => e.event_id);

    await page.reload(); // the visitor moves on before the retry is due
    await waitFor('both page views delivered', () => delivered('page_view').length == 2, () => h.collector.requests.map((r) => r.status));
    await barrier(h, page);
    const ids = h.collector.delivered().map((e) => e.event_id);
    for (const id of lost) expect(ids.filter((x) => x == id)).toHaveLength(1);
    expect(new Set(ids).size).toBe(ids.length);
    expect(await page.evaluate(() => localStorage.getItem('aa_q'))).toBeNull();
    await ctx.close();
  });

  it('splits a batch the collector rejects as too large (413) and delivers every event once', async () => {
    const ctx = await h.context();
    const page = await ctx.newPage();
    await page.goto(h.site.url + '/');
    await barrier(h, page);
    h.collector.replies.push({ status: 413 });
    await page.evaluate(() => {
      const aa = (window as unknown as { aa: { chart: (...a: unknown[]) => void; flush(): void } }).aa;
      for (let i = 0; i < 8; i++) aa.chart('laptops-2026', 'paginate', { field: 'page', value: String(i + 1) });
      aa.flush();
    });
    await waitFor('eight interactions delivered', () => delivered('chart_interaction').filter((e) => e.chart_id != '__barrier__').length == 8, () =>
      h.collector.requests.map((r) => [r.status, r.events.length]),
    );
    const sizes = h.collector.requests.filter((r) => r.events.some((e) => e.action == 'paginate')).map((r) => [r.status, r.events.length]);
    expect(sizes[0]).toEqual([413, 8]);
    expect(sizes.slice(1).every(([s, n]) => s == 200 && n! <= 4)).toBe(true);
    await ctx.close();
  });

  it('drops a batch the collector answers 400 instead of retrying it', async () => {
    const ctx = await h.context();
    const page = await ctx.newPage();
    h.collector.replies.push({ status: 400 });
    await page.goto(h.site.url + '/');
    await waitFor('the 400', () => h.collector.requests.some((r) => r.status == 400));
    await barrier(h, page);
    expect(await page.evaluate(() => localStorage.getItem('aa_q'))).toBeNull();
    expect(h.events('page_view')).toHaveLength(1);
    await ctx.close();
  });
});
