// Visitor and session rules, pure so they are unit-tested without a browser.
import type { Attribution, SessionState } from './types';

export const SESSION_TIMEOUT = 30 * 60 * 1000;

const UTM = ['source', 'medium', 'campaign', 'term', 'content'] as const;
const CLICK_IDS = ['gclid', 'fbclid', 'msclkid'] as const;

/** Campaign parameters of a landing URL's query string (absent ones omitted), or null when it has none. */
export function attribution(search: string): Attribution | null {
  const q = new URLSearchParams(search);
  const a: Attribution = { utm: {} };
  let found: 0 | 1 = 0;
  for (const k of UTM) if (q.has('utm_' + k)) (a.utm[k] = q.get('utm_' + k)), (found = 1);
  for (const k of CLICK_IDS) if (q.has(k)) (a[k] = q.get(k)), (found = 1);
  return found ? a : null;
}

/**
 * The session after activity at `now`. A new session starts on first visit, after 30 minutes
 * without activity, or when a page view lands with campaign parameters other than the session's.
 * The visitor id survives sessions; the session index counts them.
 */
export function touch(
  prev: SessionState | null,
  now: number,
  landing: Attribution | null,
  id: () => string,
): SessionState {
  if (prev && now - prev.t <= SESSION_TIMEOUT && (!landing || JSON.stringify(landing) == JSON.stringify(prev.a))) {
    prev.t = now;
    return prev;
  }
  return {
    v: prev ? prev.v : id(),
    n: prev ? prev.n + 1 : 1,
    s: id(),
    t: now,
    a: landing || { utm: {} },
  };
}
