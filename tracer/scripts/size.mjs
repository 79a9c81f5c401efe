// Size gate: minified + gzipped (level 9) size of each build against its budget. Fails (exit 1)
// when a build is over budget; writes dist/sizes.json for the benchmark report.
import { readFileSync, writeFileSync } from 'node:fs';
import { gzipSync, brotliCompressSync, constants } from 'node:zlib';

const root = new URL('..', import.meta.url).pathname;
export const BUDGETS = [
  { file: 'dist/aa.core.js', what: 'core: page views, sessions, clicks, transport, consent', budget: 3072 },
  { file: 'dist/aa.js', what: 'everything (IIFE snippet)', budget: 4096 },
  { file: 'dist/aa.mjs', what: 'everything (ESM)', budget: 4096 },
];

let failed = false;
const rows = BUDGETS.map((b) => {
  const src = readFileSync(root + b.file);
  const gzip = gzipSync(src, { level: 9 }).length;
  const brotli = brotliCompressSync(src, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
  const ok = gzip <= b.budget;
  failed ||= !ok;
  return { ...b, minified: src.length, gzip, brotli, ok };
});
for (const r of rows)
  console.log(`${r.ok ? 'ok  ' : 'OVER'} ${r.file.padEnd(16)} ${String(r.minified).padStart(6)} B min  ${String(r.gzip).padStart(5)} B gzip (budget ${r.budget})  ${String(r.brotli).padStart(5)} B brotli  ${r.what}`);
writeFileSync(root + 'dist/sizes.json', JSON.stringify(rows, null, 2) + '\n');
if (failed) {
  console.error('size budget exceeded: trim the tracer or move the feature behind a build flag (scripts/build.mjs)');
  process.exit(1);
}
