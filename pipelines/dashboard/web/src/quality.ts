// Data-quality view: polls /api/quality while the tab is open (ledger per minute, open incidents).
import { $, fillTable, fmt } from './format';

interface LedgerRow {
  minute: number;
  received: number;
  written: number;
  invalid: number;
  duplicate: number;
  late: number;
  in_flight: number;
  live: string;
  monitor: string | null;
  hop: string | null;
}

interface Incident {
  key: string;
  severity: string;
  title: string;
  message: string;
  opened_at: string;
}

interface Quality {
  now: number;
  error?: string;
  minutes: number;
  windows: LedgerRow[];
  totals: Record<string, number>;
  unbalanced: number;
  checked_at: string | null;
  incidents: Incident[];
}

const POLL_MS = 5000;
let timer: number | undefined;

function set(k: string, text: string, raw?: number | null): void {
  const el = $(`#quality [data-k="${k}"]`);
  el.textContent = text;
  if (raw !== undefined) el.dataset.v = raw === null ? '' : String(raw);
}

function hhmm(minute: number): string {
  return new Date(minute * 60_000).toISOString().slice(11, 16);
}

export function render(q: Quality): void {
  const err = $('#q-error');
  err.hidden = !q.error;
  if (q.error) {
    err.textContent = q.error;
    return;
  }
  set('q_window', `${q.minutes} min`);
  for (const k of ['received', 'written', 'invalid', 'duplicate', 'in_flight']) set(`q_${k}`, fmt(q.totals[k] ?? 0, 'int'), q.totals[k] ?? 0);
  set('q_incidents', String(q.incidents.length), q.incidents.length);
  set('q_checked', q.checked_at ?? 'never');
  set('q_unbalanced', String(q.unbalanced), q.unbalanced);
  $('#q-alert').hidden = q.unbalanced === 0;
  fillTable(
    $('#quality table[data-t="incidents"] tbody') as HTMLTableSectionElement,
    q.incidents.map((i) => [['key', i.key, 'text'], ['severity', i.severity, 'text'], ['message', i.message, 'text'], ['opened_at', i.opened_at, 'text']]),
  );
  fillTable(
    $('#quality table[data-t="ledger"] tbody') as HTMLTableSectionElement,
    q.windows.map((w) => [
      ['minute', hhmm(w.minute), 'text'],
      ['received', w.received, 'int'],
      ['written', w.written, 'int'],
      ['invalid', w.invalid, 'int'],
      ['duplicate', w.duplicate, 'int'],
      ['late', w.late, 'int'],
      ['in_flight', w.in_flight, 'int'],
      ['live', w.live, 'text'],
      ['monitor', w.monitor ?? '–', 'text'],
      ['hop', w.hop ?? '', 'text'],
    ]),
  );
  for (const tr of document.querySelectorAll<HTMLTableRowElement>('#quality table[data-t="ledger"] tbody tr')) {
    const bad = [...tr.querySelectorAll('td')].some((td) => td.textContent === 'unbalanced');
    tr.classList.toggle('bad', bad);
  }
}

async function poll(): Promise<void> {
  try {
    const resp = await fetch('/api/quality', { cache: 'no-store' });
    render((await resp.json()) as Quality);
  } catch (e) {
    render({ error: `quality view unavailable: ${String(e)}` } as Quality);
  }
}

export function start(): void {
  if (timer !== undefined) return;
  void poll();
  timer = window.setInterval(() => void poll(), POLL_MS);
}

export function stop(): void {
  if (timer !== undefined) window.clearInterval(timer);
  timer = undefined;
}
