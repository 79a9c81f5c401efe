import { describe, expect, it } from 'vitest';
import { attribution, SESSION_TIMEOUT, touch } from '../../src/session';

let n = 0;
const id = () => `id-${++n}`;

describe('session', () => {
  it('creates visitor and session ids with index 1 on the first visit', () => {
    const s = touch(null, 1000, null, id);
    expect(s).toMatchObject({ n: 1, t: 1000, a: { utm: {} } });
    expect(s.v).not.toBe(s.s);
  });

  it('keeps the session while activity is at most 30 minutes apart and extends it', () => {
    const s = touch(null, 0, null, id);
    const t1 = touch({ ...s }, SESSION_TIMEOUT, null, id);
    const t2 = touch({ ...t1 }, 2 * SESSION_TIMEOUT, null, id);
    expect([t1.s, t2.s]).toEqual([s.s, s.s]);
    expect(t2.t).toBe(2 * SESSION_TIMEOUT);
  });

  it('starts a new session with the same visitor and the next index after 30 minutes idle', () => {
    const s = touch(null, 0, null, id);
    const next = touch({ ...s }, SESSION_TIMEOUT + 1, null, id);
    expect(next.s).not.toBe(s.s);
    expect(next.v).toBe(s.v);
    expect(next.n).toBe(2);
  });

  it('keeps landing UTM and click ids for the session and ignores pages without them', () => {
    const landing = attribution('?utm_source=google&utm_medium=cpc&gclid=G1&x=1');
    const s = touch(null, 0, landing, id);
    const later = touch({ ...s }, 60_000, attribution('?page=2'), id);
    expect(later.s).toBe(s.s);
    expect(later.a).toEqual({ utm: { source: 'google', medium: 'cpc' }, gclid: 'G1' });
  });

  it('starts a new session when a page view lands with different campaign parameters', () => {
    const s = touch(null, 0, attribution('?utm_source=google'), id);
    const same = touch({ ...s }, 1000, attribution('?utm_source=google'), id);
    const other = touch({ ...s }, 2000, attribution('?utm_source=newsletter'), id);
    expect(same.s).toBe(s.s);
    expect(other.s).not.toBe(s.s);
    expect(other.a.utm).toEqual({ source: 'newsletter' });
  });

  it('reads all five UTM parameters and the three ad click ids, and nothing from a plain URL', () => {
    expect(attribution('?utm_source=a&utm_medium=b&utm_campaign=c&utm_term=d&utm_content=e&fbclid=F&msclkid=M')).toEqual({
      utm: { source: 'a', medium: 'b', campaign: 'c', term: 'd', content: 'e' },
      fbclid: 'F',
      msclkid: 'M',
    });
    expect(attribution('?q=laptops')).toBeNull();
    expect(attribution('')).toBeNull();
  });
});
