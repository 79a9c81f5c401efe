// Batching, delivery and the persisted retry queue.
//
// Fresh events wait in memory and go out in batches: on a timer, when a batch is full, and at
// once for affiliate clicks and when the page is hidden or left ("urgent"). Only one regular
// flush is in flight at a time; urgent sends do not wait for it, because waiting could lose
// them. A batch that fails with a retryable status (network error, 408, 429, 5xx, 503 with
// Retry-After) moves to a bounded queue in localStorage that survives the next page load and is
// retried with jittered exponential backoff; while the queue is backing off, fresh events join
// it instead of hitting a failing collector. 413 halves the batch size; other 4xx drop the batch.
// Requests still in flight when the page is left (pagehide) are not retried: keepalive delivers
// them, and resending from the next page would duplicate them.
import type { ClickTransport, Ev } from './types';
import { load, save } from './util';

export const RETRY_KEY = 'aa_q';
/** Oldest events are dropped past this many (Snowplow once filled storage without a bound). */
export const MAX_RETRY_EVENTS = 300;
/** Events older than this are dropped from the retry queue: the pipeline would discard them as late. */
export const MAX_EVENT_AGE = 24 * 3600 * 1000;
/** Characters per body: at most 3 bytes each in UTF-8, so under the 64 KB keepalive budget. */
export const BODY_LIMIT = 20000;

export interface RetryQueue {
  /** events */
  e: Ev[];
  /** failed attempts in a row */
  n: number;
  /** next attempt, epoch ms */
  at: number;
}

/** 0 delivered, 1 retry later, 2 too large (split), 3 drop. */
export function classify(status: number): 0 | 1 | 2 | 3 {
  return status > 199 && status < 300 ? 0 : status == 413 ? 2 : !status || status == 408 || status == 429 || status > 499 ? 1 : 3;
}

/** Delay before retry number n (1-based): the collector's Retry-After, else 2^n s ±50 %, capped at 5 min. */
export function backoff(n: number, retryAfterSeconds: number, random: number): number {
  return retryAfterSeconds > 0 ? retryAfterSeconds * 1000 : Math.min(1000 * 2 ** n, 300000) * (0.5 + random);
}

export interface Transport {
  add(ev: Ev, urgent?: 0 | 1): void;
  flush(urgent?: 0 | 1 | 2): void;
  clear(): void;
}

export function createTransport(url: string, maxBatch: number, interval: number, log: (...a: unknown[]) => void): Transport {
  let q: Ev[] = [];
  let busy = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let limit = maxBatch;
  /** Incremented when the page is left: requests in flight then are the browser's to finish. */
  let left = 0;

  /** Remove and return the next batch from src: at most `limit` events and BODY_LIMIT characters (at least one event). */
  const take = (src: Ev[]): Ev[] => {
    let n = 0;
    for (let size = 0; n < src.length && n < limit; n++) if ((size += JSON.stringify(src[n]).length) > BODY_LIMIT && n) break;
    return src.splice(0, n);
  };

  const send = (batch: Ev[]): Promise<number[]> => {
    const now = Date.now();
    const epoch = left;
    const body = (via: ClickTransport): string => {
      for (const e of batch) {
        e.context.device_sent_at = now;
        if (e.event_type == 'affiliate_click') e.transport = via;
      }
      return JSON.stringify({ events: batch });
    };
    try {
      // A string body is sent as text/plain;charset=UTF-8: a CORS-simple request, no preflight.
      return fetch(url, { method: 'POST', body: body('fetch_keepalive'), keepalive: true }).then(
        (r) => [r.status, +(r.headers.get('retry-after') || 0) || 0],
        // A keepalive request outlives its page: if the page was left while it was in flight, the
        // rejection only means the page stopped listening. Retrying it would duplicate it.
        () => [epoch == left ? 0 : 200, 0],
      );
    } catch {
      return Promise.resolve([navigator.sendBeacon(url, body('beacon')) ? 200 : 0, 0]);
    }
  };

  /** Record the outcome of a batch in the retry queue. */
  const settle = (batch: Ev[], [status, retryAfter]: number[], fromQueue: boolean): void => {
    const c = classify(status!);
    if (c == 2 && batch.length > 1) {
      limit = Math.ceil(batch.length / 2);
      if (!fromQueue) q = batch.concat(q);
      return;
    }
    const r = load<RetryQueue>(RETRY_KEY) || { e: [], n: 0, at: 0 };
    const now = Date.now();
    if (c == 1) {
      if (!fromQueue) r.e = r.e.concat(batch);
      r.at = now + backoff(++r.n, retryAfter!, Math.random());
      log('retry', status);
    } else {
      if (fromQueue) r.e = r.e.filter((e) => !batch.some((b) => b.event_id == e.event_id));
      if (c) log('drop', status);
      else r.n = 0;
    }
    r.e = r.e.filter((e) => now - e.context.device_created_at < MAX_EVENT_AGE).slice(-MAX_RETRY_EVENTS);
    save(RETRY_KEY, r.e.length ? r : null);
  };

  /** One regular flush at a time: the retry queue when due, else fresh events. */
  const pump = (): void => {
    clearTimeout(timer);
    timer = undefined;
    if (busy) return;
    const r = load<RetryQueue>(RETRY_KEY);
    const fromQueue = !!(r && r.e.length);
    if (fromQueue && r!.at > Date.now()) {
      if (q.length) save(RETRY_KEY, ((r!.e = r!.e.concat(q).slice(-MAX_RETRY_EVENTS)), (q = []), r));
      clearTimeout(retryTimer);
      retryTimer = setTimeout(pump, r!.at - Date.now());
      return;
    }
    const batch = fromQueue ? take(r!.e) : take(q);
    if (!batch.length) return;
    busy = true;
    send(batch).then((res) => {
      busy = false;
      settle(batch, res, fromQueue);
      pump();
    });
  };

  /** urgent: 1 send everything now (affiliate click, page hidden); 2 the same when the page is left (pagehide). */
  const flush = (urgent?: 0 | 1 | 2): void => {
    if (!urgent) return pump();
    while (q.length) {
      const batch = take(q);
      send(batch).then((res) => settle(batch, res, false));
    }
    if (urgent > 1) left++;
  };

  return {
    add(ev, urgent) {
      q.push(ev);
      if (urgent || q.length >= limit) flush(urgent);
      else if (!timer && !busy) timer = setTimeout(pump, interval);
    },
    flush,
    clear() {
      q = [];
      save(RETRY_KEY, null);
    },
  };
}
