// Self-service explorer: allow-listed metric × dimension × date range -> chart + table + CSV.
import uPlot from 'uplot';
import { $, fillTable, fmt, type Fmt } from './format';

interface Options {
  metrics: Array<{ name: string; label: string; format: Fmt }>;
  dimensions: Array<{ name: string; label: string }>;
  min_date: string | null;
  max_date: string | null;
}
interface Row { value: string; metric: number | null; page_views: number; clicks: number; conversions: number; revenue: number; commission: number }
interface Result {
  metric: string;
  metric_label: string;
  format: Fmt;
  dimension: string;
  dimension_label: string;
  from: string;
  to: string;
  rows: Row[];
  days: string[];
  series: Array<{ value: string; points: Array<number | null> }>;
}

const COLORS = ['#2563eb', '#f97316', '#16a34a', '#9333ea', '#dc2626'];
let chart: uPlot | null = null;

function form(): HTMLFormElement {
  return $('#ex-form') as HTMLFormElement;
}

function query(): string {
  const data = new FormData(form());
  return new URLSearchParams([...data.entries()].map(([k, v]) => [k, String(v)])).toString();
}

function showError(text: string | null): void {
  const el = $('#ex-error');
  el.hidden = text === null;
  el.textContent = text ?? '';
}

function draw(r: Result): void {
  chart?.destroy();
  const el = $('#ex-chart');
  el.replaceChildren();
  const xs = r.days.map((d) => Date.parse(d + 'T00:00:00Z') / 1000);
  chart = new uPlot(
    {
      width: el.clientWidth || 1200,
      height: 260,
      series: [{}, ...r.series.map((s, i) => ({ label: s.value, stroke: COLORS[i % COLORS.length], width: 2, points: { show: r.days.length < 40 } }))],
      axes: [{}, { values: (_u: uPlot, ticks: number[]) => ticks.map((t) => fmt(t, r.format)), size: 70 }],
      scales: { x: { time: true } },
    },
    [xs, ...r.series.map((s) => s.points)] as uPlot.AlignedData,
    el,
  );
}

function table(r: Result): void {
  const head = $('#ex-table thead');
  head.innerHTML = '';
  const tr = document.createElement('tr');
  for (const h of [r.dimension_label, r.metric_label, 'page views', 'clicks', 'conversions', 'revenue', 'commission']) {
    const th = document.createElement('th');
    th.textContent = h;
    tr.append(th);
  }
  head.append(tr);
  fillTable(
    $('#ex-table tbody') as HTMLTableSectionElement,
    r.rows.map((row) => [
      ['value', row.value, 'text'],
      ['metric', row.metric, r.format],
      ['page_views', row.page_views, 'int'],
      ['clicks', row.clicks, 'int'],
      ['conversions', row.conversions, 'int'],
      ['revenue', row.revenue, 'money'],
      ['commission', row.commission, 'money'],
    ]),
  );
}

export async function run(): Promise<void> {
  const q = query();
  ($('#ex-csv') as HTMLAnchorElement).href = '/api/explore.csv?' + q;
  const res = await fetch('/api/explore?' + q);
  const doc = (await res.json()) as Result & { detail?: string; parameter?: string };
  if (!res.ok) {
    showError(doc.parameter ? `${doc.parameter}: ${doc.detail}` : doc.detail ?? `error ${res.status}`);
    return;
  }
  showError(null);
  $('#ex-title').textContent = `${doc.metric_label} by ${doc.dimension_label.toLowerCase()}, ${doc.from} to ${doc.to}`;
  table(doc);
  draw(doc);
  document.body.dataset.explored = q;
}

export async function init(): Promise<void> {
  const res = await fetch('/api/explore/options');
  const doc = (await res.json()) as Options & { detail?: string };
  if (!res.ok) {
    showError(doc.detail ?? `error ${res.status}`);
    return;
  }
  const f = form();
  const fill = (name: string, items: Array<{ name: string; label: string }>) =>
    (f.elements.namedItem(name) as HTMLSelectElement).replaceChildren(...items.map((i) => new Option(i.label, i.name)));
  fill('metric', doc.metrics);
  fill('dimension', doc.dimensions);
  if (doc.max_date) {
    const to = new Date(doc.max_date + 'T00:00:00Z');
    const from = new Date(to.getTime() - 29 * 86400_000);
    const min = doc.min_date ?? doc.max_date;
    (f.elements.namedItem('to') as HTMLInputElement).value = doc.max_date;
    (f.elements.namedItem('from') as HTMLInputElement).value = from.toISOString().slice(0, 10) < min ? min : from.toISOString().slice(0, 10);
  }
  f.addEventListener('submit', (e) => {
    e.preventDefault();
    void run();
  });
  document.body.dataset.explorerReady = '1';
  if (doc.max_date) await run();
}
