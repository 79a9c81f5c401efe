import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { backoff, classify, createTransport, MAX_RETRY_EVENTS, RETRY_KEY, type RetryQueue } from '../../src/transport';
import type { Ev } from '../../src/types';
import { installLocalStorage } from './storage';

const URL_ = 'https://collect.example/v1/events';
let storage: Map<string, string>;
let calls: { body: { events: Ev[] }; init: RequestInit }[];
let replies: (number | [number, string] | 'network' | Promise<never>)[];

const ev = (i: number, type: Ev['event_type'] = 'page_view', pad = 0): Ev =>
  ({ event_type: type, event_id: `e${i}`, page_view_id: 'pv', context: { device_created_at: Date.now(), pad: 'x'.repeat(pad) } }) as unknown as Ev;
const ids = (n: number) => calls[n]!.body.events.map((e) => e.event_id);
const stored = () => JSON.parse(storage.get(RETRY_KEY) || 'null') as RetryQueue | null;
const tick = (ms = 0) => vi.advanceTimersByTimeAsync(ms);

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(1_700_000_000_000);
  storage = installLocalStorage();
  calls = [];
  replies = [];
  vi.stubGlobal('fetch', (url: string, init: RequestInit) => {
    expect(url).toBe(URL_);
    calls.push({ body: JSON.parse(init.body as string), init });
    const r = replies.shift() ?? 200;
    if (r == 'network') return Promise.reject(new TypeError('Failed to fetch'));
    if (r instanceof Promise) return r;
    const [status, retryAfter] = Array.isArray(r) ? r : [r, ''];
    return Promise.resolve({ status, headers: { get: (h: string) => (h == 'retry-after' ? retryAfter : null) } });
  });
});
afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe('transport: batching', () => {
  it('sends queued events as one CORS-simple text/plain keepalive POST when the timer fires', async () => {
    const t = createTransport(URL_, 20, 3000, () => {});
    t.add(ev(1));
    t.add(ev(2));
    await tick(2999);
    expect(calls).toHaveLength(0);
    await tick(1);
    expect(calls).toHaveLength(1);
    expect(ids(0)).toEqual(['e1', 'e2']);
    expect(typeof calls[0]!.init.body).toBe('string'); // string body: text/plain;charset=UTF-8
    expect(calls[0]!.init).toMatchObject({ method: 'POST', keepalive: true });
    expect(calls[0]!.init.headers).toBeUndefined();
    const sent = calls[0]!.body.events.map((e) => e.context.device_sent_at);
    expect(sent).toEqual([Date.now(), Date.now()]);
  });

  it('flushes as soon as a batch is full', async () => {
    const t = createTransport(URL_, 3, 3000, () => {});
    [1, 2, 3].forEach((i) => t.add(ev(i)));
    await tick();
    expect(ids(0)).toEqual(['e1', 'e2', 'e3']);
  });

  it('keeps every body under the keepalive budget by splitting large batches', async () => {
    const t = createTransport(URL_, 20, 3000, () => {});
    for (let i = 0; i < 6; i++) t.add(ev(i, 'page_view', 6000));
    await tick(3000);
    await tick();
    await tick();
    expect(calls.length).toBeGreaterThan(1);
    for (const c of calls) expect(JSON.stringify(c.body).length).toBeLessThan(64 * 1024 / 3);
    expect(calls.flatMap((c) => c.body.events.map((e) => e.event_id))).toEqual(['e0', 'e1', 'e2', 'e3', 'e4', 'e5']);
  });

  it('never has more than one regular flush in flight', async () => {
    let release!: (v: unknown) => void;
    replies.push(new Promise<never>((r) => (release = r as (v: unknown) => void)));
    const t = createTransport(URL_, 2, 1000, () => {});
    t.add(ev(1));
    t.add(ev(2)); // full: flush 1 in flight
    t.add(ev(3));
    t.add(ev(4)); // full again, but waits
    t.flush();
    await tick(5000);
    expect(calls).toHaveLength(1);
    release({ status: 200, headers: { get: () => null } });
    await tick();
    expect(calls).toHaveLength(2);
    expect(ids(1)).toEqual(['e3', 'e4']);
  });

  it('sends affiliate clicks at once without waiting for a flush in flight, marked fetch_keepalive', async () => {
    replies.push(new Promise(() => {}) as Promise<never>);
    const t = createTransport(URL_, 1, 1000, () => {});
    t.add(ev(1));
    t.add(ev(2, 'affiliate_click'), 1);
    await tick();
    expect(calls).toHaveLength(2);
    expect(calls[1]!.body.events[0]).toMatchObject({ event_id: 'e2', transport: 'fetch_keepalive' });
  });

  it('falls back to sendBeacon when fetch throws (e.g. a locked-down fetch), marked beacon', async () => {
    const beacons: string[] = [];
    vi.stubGlobal('fetch', () => {
      throw new Error('blocked');
    });
    vi.stubGlobal('navigator', { sendBeacon: (_u: string, b: string) => (beacons.push(b), true) });
    const t = createTransport(URL_, 20, 1000, () => {});
    t.add(ev(1, 'affiliate_click'), 1);
    await tick();
    expect(JSON.parse(beacons[0]!).events[0]).toMatchObject({ event_id: 'e1', transport: 'beacon' });
    expect(stored()).toBeNull();
  });
});

describe('transport: retry', () => {
  it('classifies statuses: 2xx delivered, 413 split, network/408/429/5xx retry, other 4xx drop', () => {
    expect([200, 204].map(classify)).toEqual([0, 0]);
    expect(classify(413)).toBe(2);
    expect([0, 408, 429, 500, 502, 503].map(classify)).toEqual([1, 1, 1, 1, 1, 1]);
    expect([400, 401, 404, 422].map(classify)).toEqual([3, 3, 3, 3]);
  });

  it('backs off exponentially with ±50 % jitter up to 5 minutes, or as long as Retry-After says', () => {
    expect(backoff(1, 0, 0)).toBe(1000);
    expect(backoff(1, 0, 0.999)).toBeCloseTo(2998, 0);
    expect(backoff(3, 0, 0.5)).toBe(8000);
    expect(backoff(20, 0, 0.5)).toBe(300000);
    expect(backoff(5, 7, 0.9)).toBe(7000);
  });

  it('persists a batch answered 503 and resends the same events after Retry-After', async () => {
    replies.push([503, '5']);
    const t = createTransport(URL_, 20, 1000, () => {});
    t.add(ev(1));
    t.add(ev(2));
    await tick(1000);
    expect(stored()).toMatchObject({ n: 1, at: Date.now() + 5000 });
    expect(stored()!.e.map((e) => e.event_id)).toEqual(['e1', 'e2']);
    await tick(4999);
    expect(calls).toHaveLength(1);
    await tick(1);
    expect(ids(1)).toEqual(['e1', 'e2']);
    await tick();
    expect(stored()).toBeNull();
  });

  it('keeps retrying network errors with growing delays and no duplicates once delivered', async () => {
    replies.push('network', 'network', 'network');
    const t = createTransport(URL_, 20, 1000, () => {});
    t.add(ev(1));
    await tick(1000);
    const delays: number[] = [];
    for (let i = 0; i < 3; i++) {
      const q = stored()!;
      delays.push(q.at - Date.now());
      await tick(Math.ceil(q.at - Date.now()));
      await tick();
    }
    expect(delays[1]!).toBeGreaterThanOrEqual(2000);
    expect(delays[2]!).toBeGreaterThanOrEqual(4000);
    expect(calls.map((_, i) => ids(i)).flat()).toEqual(['e1', 'e1', 'e1', 'e1']);
    expect(stored()).toBeNull();
  });

  it('adds fresh events to the queue while it backs off instead of sending them to a failing collector', async () => {
    replies.push(503);
    const t = createTransport(URL_, 20, 1000, () => {});
    t.add(ev(1));
    await tick(1000);
    t.add(ev(2));
    await tick(1000);
    expect(calls).toHaveLength(1);
    expect(stored()!.e.map((e) => e.event_id)).toEqual(['e1', 'e2']);
  });

  it('resends the persisted queue from the next page (a new transport) once due', async () => {
    replies.push(503);
    createTransport(URL_, 20, 1000, () => {}).add(ev(1), 1);
    await tick();
    expect(stored()!.e).toHaveLength(1);
    await tick(5000); // the first page is gone; its timers do not matter here
    const next = createTransport(URL_, 20, 1000, () => {});
    next.flush();
    await tick();
    expect(calls.map((_, i) => ids(i)).flat().filter((id) => id == 'e1').length).toBeGreaterThanOrEqual(2);
    expect(stored()).toBeNull();
  });

  it('does not retry a request that was in flight when the page was left (keepalive delivers it)', async () => {
    let fail!: (e: Error) => void;
    replies.push(new Promise<never>((_, rej) => (fail = rej)));
    const t = createTransport(URL_, 20, 1000, () => {});
    t.add(ev(1, 'affiliate_click'), 1);
    t.flush(2); // pagehide
    fail(new TypeError('page frozen'));
    await tick();
    expect(stored()).toBeNull();
  });

  it('retries a request that failed while the page stayed open', async () => {
    replies.push('network');
    const t = createTransport(URL_, 20, 1000, () => {});
    t.add(ev(1, 'affiliate_click'), 1);
    await tick();
    expect(stored()!.e.map((e) => e.event_id)).toEqual(['e1']);
  });

  it('halves the batch on 413 and delivers every event', async () => {
    replies.push(413);
    const t = createTransport(URL_, 4, 1000, () => {});
    [1, 2, 3, 4].forEach((i) => t.add(ev(i)));
    await tick();
    await tick();
    await tick();
    expect(calls.map((c) => c.body.events.length)).toEqual([4, 2, 2]);
    expect([ids(1), ids(2)].flat()).toEqual(['e1', 'e2', 'e3', 'e4']);
  });

  it('drops a batch answered 400 without retrying and logs it', async () => {
    replies.push(400);
    const log = vi.fn();
    const t = createTransport(URL_, 20, 1000, log);
    t.add(ev(1));
    await tick(1000);
    await tick(600_000);
    expect(calls).toHaveLength(1);
    expect(stored()).toBeNull();
    expect(log).toHaveBeenCalledWith('drop', 400);
  });

  it(`bounds the persisted queue to ${MAX_RETRY_EVENTS} events, dropping the oldest`, async () => {
    replies.push(...Array(MAX_RETRY_EVENTS + 50).fill(503));
    const t = createTransport(URL_, 20, 1000, () => {});
    for (let i = 0; i < MAX_RETRY_EVENTS + 50; i++) t.add(ev(i), 1);
    await tick();
    const q = stored()!;
    expect(q.e).toHaveLength(MAX_RETRY_EVENTS);
    expect(q.e[0]!.event_id).toBe('e50');
  });

  it('drops queued events older than a day', async () => {
    replies.push(503);
    const t = createTransport(URL_, 20, 1000, () => {});
    t.add(ev(1), 1);
    await tick();
    vi.setSystemTime(Date.now() + 25 * 3600 * 1000);
    replies.push(503);
    t.add(ev(2), 1);
    await tick();
    expect(stored()!.e.map((e) => e.event_id)).toEqual(['e2']);
  });

  it('clears queued and persisted events (consent withdrawn)', async () => {
    replies.push(503);
    const t = createTransport(URL_, 20, 1000, () => {});
    t.add(ev(1), 1);
    await tick();
    t.add(ev(2));
    t.clear();
    expect(stored()).toBeNull();
    await tick(600_000);
    expect(calls.flatMap((c) => c.body.events.map((e) => e.event_id))).toEqual(['e1']);
  });
});
