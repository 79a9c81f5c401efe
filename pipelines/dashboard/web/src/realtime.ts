// Real-time view: one EventSource on /api/stream; every message is a full snapshot.
import uPlot from 'uplot';
import { $, age, fillTable, fmt } from './format';

interface Snapshot {
  now: number;
  error?: string;
  window_minutes: number;
  minutes: number[];
  page_views: number[];
  clicks: number[];
  totals: { page_views: number; clicks: number; impressions: number; conversions: number; events: number; bot_events: number; active_sessions: number };
  ctr: number | null;
  bot_rate: number | null;
  top_pages: Array<{ page: string; page_views: number; clicks: number; ctr: number | null }>;
  merchants: Array<{ merchant: string; clicks: number }>;
  positions: Array<{ position: string; clicks: number }>;
  segments: Array<{ segment: string; events: number; share: number | null }>;
  dead_letters: { received: number; invalid: number; rate: number | null; by_reason: Record<string, number> };
  freshness: { newest_minute: number | null; age_s: number | null; last_batch_minute: number | null; stale_after_s: number; stale: boolean };
}

let chart: uPlot | null = null;
let updates = 0;

function set(k: string, text: string, raw?: number | null): void {
  const el = $(`#realtime [data-k="${k}"]`);
  el.textContent = text;
  if (raw !== undefined) el.dataset.v = raw === null ? '' : String(raw);
}

function body(t: string): HTMLTableSectionElement {
  return $(`#realtime table[data-t="${t}"] tbody`) as HTMLTableSectionElement;
}

function plot(s: Snapshot): void {
  const data: uPlot.AlignedData = [s.minutes.map((m) => m * 60), s.page_views, s.clicks];
  if (chart) {
    chart.setData(data);
    return;
  }
  const el = $('#rt-chart');
  chart = new uPlot(
    {
      width: el.clientWidth || 1200,
      height: 220,
      series: [{}, { label: 'page views', stroke: '#2563eb', width: 2 }, { label: 'clicks', stroke: '#f97316', width: 2 }],
      axes: [{}, {}],
    },
    data,
    el,
  );
}

export function render(s: Snapshot): void {
  const err = $('#rt-error');
  err.hidden = !s.error;
  if (s.error) {
    err.textContent = s.error;
    return;
  }
  set('window', `${s.window_minutes} min`);
  set('page_views', fmt(s.totals.page_views, 'int'), s.totals.page_views);
  set('clicks', fmt(s.totals.clicks, 'int'), s.totals.clicks);
  set('ctr', fmt(s.ctr, 'pct'), s.ctr);
  set('active_sessions', fmt(s.totals.active_sessions, 'int'), s.totals.active_sessions);
  set('bot_rate', fmt(s.bot_rate, 'pct'), s.bot_rate);
  set('dlq_rate', fmt(s.dead_letters.rate, 'pct'), s.dead_letters.rate);
  set('age', age(s.freshness.age_s), s.freshness.age_s);
  const reasons = Object.entries(s.dead_letters.by_reason);
  set('dlq_reasons', reasons.length ? reasons.map(([r, n]) => `${r} ${n}`).join(', ') : 'none');
  const stale = $('#stale');
  stale.hidden = !s.freshness.stale;
  set('stale_age', s.freshness.age_s === null ? 'missing (no event in Redis)' : age(s.freshness.age_s));
  set('stale_after', age(s.freshness.stale_after_s));
  fillTable(body('top_pages'), s.top_pages.map((r) => [['page', r.page, 'text'], ['page_views', r.page_views, 'int'], ['clicks', r.clicks, 'int'], ['ctr', r.ctr, 'pct']]));
  fillTable(body('merchants'), s.merchants.map((r) => [['merchant', r.merchant, 'text'], ['clicks', r.clicks, 'int']]));
  fillTable(body('positions'), s.positions.map((r) => [['position', r.position, 'text'], ['clicks', r.clicks, 'int']]));
  fillTable(body('segments'), s.segments.map((r) => [['segment', r.segment, 'text'], ['events', r.events, 'int'], ['share', r.share, 'pct']]));
  plot(s);
  updates += 1;
  set('updates', String(updates), updates);
  set('updated', new Date(s.now * 1000).toLocaleTimeString('en-GB'), s.now);
}

export function connect(): void {
  const conn = $('#conn');
  const source = new EventSource('/api/stream');
  source.onopen = () => {
    conn.textContent = 'live';
    conn.className = 'conn live';
  };
  source.onerror = () => {
    conn.textContent = 'reconnecting…';
    conn.className = 'conn';
  };
  source.onmessage = (e: MessageEvent<string>) => render(JSON.parse(e.data) as Snapshot);
}
