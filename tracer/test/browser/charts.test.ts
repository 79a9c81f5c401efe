import type { Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { barrier, setup, waitFor, type Harness } from './harness';

let h: Harness;
beforeAll(async () => (h = await setup()));
afterAll(async () => h?.close());
beforeEach(() => h.reset());

const visibleOrder = (page: Page) =>
  page.$$eval('[data-aa-chart="laptops-2026"] tr[data-aa-product]', (rows) => rows.map((r) => r.getAttribute('data-aa-product')));

describe('product impressions', () => {
  it('reports each product row once per page view with its displayed position, when half of it is visible', async () => {
    const ctx = await h.context();
    const page = await ctx.newPage();
    await page.goto(h.site.url + '/');
    await barrier(h, page);
    // Above the fold only the hero product is visible.
    expect(h.events('product_impression').map((e) => [e.product_id, e.chart_id, e.position])).toEqual([['acme-14', null, 1]]);

    const summary = () => h.events('product_impression').map((e) => `${e.product_id}@${e.position}`);
    for (const p of await visibleOrder(page)) await page.locator(`tr[data-aa-product="${p}"]`).scrollIntoViewIfNeeded();
    await waitFor('six row impressions', () => h.events('product_impression').filter((e) => e.chart_id).length == 6, summary);
    await page.mouse.wheel(0, -5000);
    await page.mouse.wheel(0, 5000);
    await barrier(h, page);
    const rows = h.events('product_impression').filter((e) => e.chart_id == 'laptops-2026');
    expect(rows.map((e) => [e.product_id, e.position])).toEqual(
      ['acme-14', 'zen-13', 'orbit-15', 'acme-16', 'zen-14', 'orbit-13'].map((p, i) => [p, i + 1]),
    );
    const pv = h.events('page_view')[0]!;
    for (const e of rows) expect(e.page_view_id).toBe(pv.page_view_id);
    expect(new Set(rows.map((e) => e.impression_id)).size).toBe(6);
    expect(h.collector.violations).toEqual([]);
    await ctx.close();
  });

  it('reports rows rendered later (next chart page) with the chart state, and starts over on a new SPA page view', async () => {
    const ctx = await h.context();
    const page = await ctx.newPage();
    await page.goto(h.site.url + '/');
    await page.click('#sort-price');
    await page.click('#page-2');
    await page.mouse.wheel(0, 5000);
    await waitFor('impressions of page 2', () => h.events('product_impression').some((e) => e.chart_state?.page == 2), () =>
      h.events('product_impression').map((e) => [e.product_id, e.chart_state]),
    );
    const p2 = h.events('product_impression').find((e) => e.chart_state?.page == 2)!;
    expect(p2.chart_state).toEqual({ sort_field: 'price', sort_direction: 'asc', filters: {}, page: 2 });
    expect(p2.position).toBe(1);

    const before = h.events('product_impression').length;
    await page.evaluate(() => history.pushState({}, '', '/spa/deals'));
    await waitFor('impressions again after the SPA page view', () => h.events('product_impression').length > before);
    const pv2 = h.events('page_view')[1]!;
    expect(h.events('product_impression').slice(before).every((e) => e.page_view_id == pv2.page_view_id)).toBe(true);
    await ctx.close();
  });
});

describe('chart interactions', () => {
  it('reports every chart action from data-aa-* markup with field, value, result count and the visible product order', async () => {
    const ctx = await h.context();
    const page = await ctx.newPage();
    await page.goto(h.site.url + '/');
    const expected: unknown[][] = [];
    const act = async (what: () => Promise<unknown>, action: string, field: string, value: string | null, count: number) => {
      const n = h.events('chart_interaction').length;
      await what();
      await waitFor(action, () => h.events('chart_interaction').length > n);
      expected.push([action, field, value, count, await visibleOrder(page)]);
    };
    await act(() => page.click('#sort-price'), 'sort', 'price', 'asc', 8);
    await act(() => page.selectOption('#filter-brand', 'zen'), 'filter', 'brand', 'zen', 3);
    await act(() => page.click('tr[data-aa-product="zen-14"] .expand'), 'expand', 'specs', 'zen-14', 3);
    await act(() => page.click('tr[data-aa-product="zen-14"] .expand'), 'collapse', 'specs', 'zen-14', 3);
    await act(() => page.check('tr[data-aa-product="zen-13"] .compare'), 'compare', 'compare', 'zen-13', 3);
    await act(() => page.selectOption('#filter-brand', ''), 'filter', 'brand', null, 8);
    await act(() => page.click('#page-2'), 'paginate', 'page', '2', 8);
    const got = h.events('chart_interaction');
    expect(JSON.stringify(got.map((e) => [e.action, e.field, e.value, e.result_count, e.visible_product_order]))).toBe(JSON.stringify(expected));
    for (const e of got) expect(e.chart_id).toBe('laptops-2026');
    expect(got[6]!.visible_product_order).toEqual(['acme-x', 'zen-pro']); // page 2 of the price-sorted list
    expect(h.collector.violations).toEqual([]);
    await ctx.close();
  });

  it('reports interactions sent through the JS API with the given details', async () => {
    const ctx = await h.context();
    const page = await ctx.newPage();
    await page.goto(h.site.url + '/');
    await page.evaluate(() =>
      (window as unknown as { aa: { chart: (...a: unknown[]) => void } }).aa.chart('laptops-2026', 'filter', {
        field: 'max_price',
        value: '1000',
        resultCount: 42,
        order: ['orbit-13', 'zen-14'],
      }),
    );
    await barrier(h, page);
    expect(h.events('chart_interaction')).toMatchObject([
      { chart_id: 'laptops-2026', action: 'filter', field: 'max_price', value: '1000', result_count: 42, visible_product_order: ['orbit-13', 'zen-14'] },
    ]);
    await ctx.close();
  });
});
