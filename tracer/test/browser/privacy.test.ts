import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { setup, waitFor, type Harness } from './harness';

let h: Harness;
beforeAll(async () => (h = await setup()));
afterAll(async () => h?.close());
beforeEach(() => h.reset());

type W = { __policy: { analytics: boolean }; aa: { consent(g: boolean): void; flush(): void } };
const aaKeys = () => Object.keys(localStorage).filter((k) => k.startsWith('aa_'));

/** A stand-in for Wix's consent policy manager, as custom code sees it. */
async function wixConsent(analytics: boolean) {
  const ctx = await h.context();
  await ctx.addInitScript((a) => {
    const w = window as unknown as W & { consentPolicyManager: unknown };
    w.__policy = { analytics: a };
    w.consentPolicyManager = { getCurrentConsentPolicy: () => ({ defaultPolicy: false, policy: { essential: true, ...w.__policy } }) };
  }, analytics);
  return ctx;
}

describe('consent and privacy', () => {
  it('tracks and stores nothing before consent where the site requires it, then starts when the Wix policy grants analytics', async () => {
    h.config.requireConsent = true;
    const ctx = await wixConsent(false);
    const page = await ctx.newPage();
    await page.goto(h.site.url + '/');
    await page.evaluate(() => document.addEventListener('click', (e) => e.preventDefault()));
    await page.click('#hero-link');
    await page.locator('tr[data-aa-product="orbit-13"]').scrollIntoViewIfNeeded();
    await page.evaluate(() => (window as unknown as W).aa.flush());
    expect(await page.evaluate(aaKeys)).toEqual([]);

    await page.evaluate(() => {
      (window as unknown as W).__policy = { analytics: true };
      document.dispatchEvent(new CustomEvent('consentPolicyChanged'));
    });
    await waitFor('page view after consent', () => h.events('page_view').length == 1);
    // Nothing from before the consent was queued: the click and early impressions are gone.
    expect(h.events('affiliate_click')).toEqual([]);
    expect(h.events().every((e) => e.context.consent_state == 'granted')).toBe(true);
    expect(h.collector.requests.filter((r) => r.method == 'POST')[0]!.events[0]!.event_type).toBe('page_view');
    await ctx.close();
  });

  it('erases stored ids and queued events when the visitor withdraws consent, and sends nothing afterwards', async () => {
    const ctx = await wixConsent(true);
    const page = await ctx.newPage();
    await page.goto(h.site.url + '/');
    await waitFor('page view', () => h.events('page_view').length == 1);
    expect(await page.evaluate(aaKeys)).toEqual(['aa_s']);
    await page.evaluate(() => {
      (window as unknown as W).__policy = { analytics: false };
      document.dispatchEvent(new CustomEvent('consentPolicyChanged'));
      document.addEventListener('click', (e) => e.preventDefault());
    });
    expect(await page.evaluate(aaKeys)).toEqual([]);
    await page.click('#hero-link');
    // Consent again: the next click is the first one sent, under a new visitor id.
    await page.evaluate(() => (window as unknown as W).aa.consent(true));
    await page.click('#hero-link');
    await waitFor('click after consent', () => h.events('affiliate_click').length == 1);
    await page.evaluate(() => (window as unknown as W).aa.flush());
    await page.waitForLoadState('networkidle');
    expect(h.events('affiliate_click')).toHaveLength(1);
    expect(h.events('affiliate_click')[0]!.context.visitor_id).not.toBe(h.events('page_view')[0]!.context.visitor_id);
    await ctx.close();
  });

  it('sends nothing when Do-Not-Track is on and the site respects it', async () => {
    h.config.respectDnt = true;
    const ctx = await h.context();
    await ctx.addInitScript(() => Object.defineProperty(Navigator.prototype, 'doNotTrack', { get: () => '1' }));
    const page = await ctx.newPage();
    await page.goto(h.site.url + '/');
    await page.evaluate(() => document.addEventListener('click', (e) => e.preventDefault()));
    await page.click('#hero-link');
    await page.evaluate(() => (window as unknown as W).aa.flush());
    await page.waitForLoadState('networkidle');
    expect(h.collector.requests).toEqual([]);
    expect(await page.evaluate(aaKeys)).toEqual([]);
    await ctx.close();
  });
});
