// Size benchmark: our builds beside the published npm builds of peer trackers, all measured the
// same way (the shipped minified file, gzip level 9 and brotli 11). Fetches the peers with
// `npm pack` (pinned versions) into a temporary folder. Prints a Markdown table; with
// `--out FILE` also writes it there (the Makefile's `make bench` appends it to docs/BENCHMARKS.md).
//
//   node scripts/build.mjs && node scripts/bench.mjs [--out FILE]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const root = new URL('..', import.meta.url).pathname;
const PEERS = [
  { name: 'Plausible', pkg: '@plausible-analytics/tracker@0.4.6', file: 'plausible.js', note: 'page views, custom events' },
  { name: 'Snowplow browser tracker', pkg: '@snowplow/browser-tracker@4.10.1', file: 'dist/index.umd.min.js', note: 'core tracker, no plugins' },
  { name: 'Segment analytics-next', pkg: '@segment/analytics-next@1.84.3', file: 'dist/umd/index.js', note: 'entry bundle; more chunks load lazily' },
  { name: 'PostHog posthog-js', pkg: 'posthog-js@1.449.2', file: 'dist/array.js', note: 'default snippet bundle' },
  { name: 'PostHog posthog-js (slim)', pkg: 'posthog-js@1.449.2', file: 'dist/module.slim.js', note: 'ESM without optional extensions' },
];

const measure = (buf) => ({
  min: buf.length,
  gzip: gzipSync(buf, { level: 9 }).length,
  brotli: brotliCompressSync(buf, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
});
const kb = (n) => (n / 1024).toFixed(1) + ' KB';

const rows = [
  { name: 'aa tracer core', version: 'this repo', note: 'page views, sessions, clicks, transport, consent', ...measure(readFileSync(root + 'dist/aa.core.js')) },
  { name: 'aa tracer (all features)', version: 'this repo', note: '+ impressions, charts, /r redirect, iframe bridge, Wix events', ...measure(readFileSync(root + 'dist/aa.js')) },
];
const tmp = mkdtempSync(join(tmpdir(), 'tracer-bench-'));
try {
  const unpacked = {};
  for (const p of PEERS) {
    if (!unpacked[p.pkg]) {
      const tgz = execFileSync('npm', ['pack', p.pkg, '--silent', '--pack-destination', tmp], { encoding: 'utf8' }).trim().split('\n').pop();
      const dir = join(tmp, tgz.replace(/\.tgz$/, ''));
      execFileSync('mkdir', ['-p', dir]);
      execFileSync('tar', ['xzf', join(tmp, tgz), '-C', dir]);
      unpacked[p.pkg] = join(dir, 'package');
    }
    const file = join(unpacked[p.pkg], p.file);
    if (!existsSync(file)) {
      console.error(`skipped ${p.pkg}: ${p.file} not in the package`);
      continue;
    }
    rows.push({ name: p.name, version: p.pkg.replace(/^.+@/, ''), note: `${p.file}: ${p.note}`, ...measure(readFileSync(file)) });
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

const table = [
  '| tracker | version | minified | gzip -9 | brotli 11 | what |',
  '|---|---|---:|---:|---:|---|',
  ...rows.map((r) => `| ${r.name} | ${r.version} | ${kb(r.min)} | ${kb(r.gzip)} | ${kb(r.brotli)} | ${r.note} |`),
].join('\n');
console.log(table);
const i = process.argv.indexOf('--out');
if (i > 0) writeFileSync(process.argv[i + 1], table + '\n');
