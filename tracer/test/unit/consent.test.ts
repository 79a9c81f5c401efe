import { describe, expect, it } from 'vitest';
import { allowed, consentState } from '../../src/consent';

describe('consent', () => {
  it('tracks without a consent signal when the site does not require consent', () => {
    expect(consentState(undefined, undefined, false)).toBe('not_required');
    expect(allowed('not_required')).toBe(true);
  });

  it('tracks nothing before consent when the site requires it', () => {
    expect(consentState(undefined, undefined, true)).toBe('unknown');
    expect(allowed('unknown')).toBe(false);
  });

  it('follows the Wix consent policy analytics category', () => {
    expect(consentState(undefined, { policy: { analytics: true } }, true)).toBe('granted');
    expect(consentState(undefined, { policy: { analytics: false } }, false)).toBe('denied');
    expect(allowed('denied')).toBe(false);
  });

  it("lets the site's explicit aa.consent() call override the Wix policy", () => {
    expect(consentState(false, { policy: { analytics: true } }, false)).toBe('denied');
    expect(consentState(true, { policy: { analytics: false } }, true)).toBe('granted');
  });
});
