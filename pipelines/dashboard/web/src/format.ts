// Number formatting shared by both views: the tests read these strings back.
export type Fmt = 'int' | 'pct' | 'money';

export function fmt(v: number | null | undefined, kind: Fmt): string {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  if (kind === 'pct') return (v * 100).toFixed(2) + '%';
  if (kind === 'money') return '$' + v.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  return Math.round(v).toLocaleString('en-US');
}

export function age(seconds: number | null): string {
  if (seconds === null) return 'no data';
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** Replace a table body with rows of cells; each cell keeps its raw value in data-v. */
export function fillTable(body: HTMLTableSectionElement, rows: Array<Array<[string, number | string | null, Fmt | 'text']>>, key = 0): void {
  body.replaceChildren(
    ...rows.map((cells) => {
      const tr = document.createElement('tr');
      tr.dataset.key = String(cells[key]?.[1] ?? '');
      for (const [name, value, kind] of cells) {
        const td = document.createElement('td');
        td.dataset.c = name;
        td.dataset.v = value === null ? '' : String(value);
        td.textContent = kind === 'text' ? String(value ?? '') : fmt(value as number | null, kind);
        if (kind === 'text') td.title = String(value ?? '');
        tr.append(td);
      }
      return tr;
    }),
  );
}

export function $(sel: string, root: ParentNode = document): HTMLElement {
  const el = root.querySelector<HTMLElement>(sel);
  if (!el) throw new Error(`missing element ${sel}`);
  return el;
}
