// Builds dist/: the IIFE snippet (all features), the core IIFE (page views, sessions, clicks,
// transport, consent) and the ESM module. Feature flags are esbuild `define`s, so disabled
// features are removed as dead code.
import { build } from 'esbuild';
import { readFileSync, rmSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const ALL = { IMPRESSIONS: true, CHARTS: true, REDIRECT: true, BRIDGE: true, WIX: true };
const CORE = { IMPRESSIONS: false, CHARTS: false, REDIRECT: false, BRIDGE: false, WIX: false };

export const BUILDS = [
  { out: 'dist/aa.js', entry: 'src/iife.ts', format: 'iife', flags: ALL },
  { out: 'dist/aa.core.js', entry: 'src/iife.ts', format: 'iife', flags: CORE },
  { out: 'dist/aa.mjs', entry: 'src/index.ts', format: 'esm', flags: ALL },
];

export function defines(flags) {
  const d = { __VERSION__: JSON.stringify(pkg.version) };
  for (const [k, v] of Object.entries(flags)) d[`__${k}__`] = String(v);
  return d;
}

const root = new URL('..', import.meta.url).pathname;
rmSync(root + 'dist', { recursive: true, force: true });
for (const b of BUILDS) {
  await build({
    absWorkingDir: root,
    entryPoints: [b.entry],
    outfile: b.out,
    bundle: true,
    minify: true,
    format: b.format,
    target: 'es2020',
    define: defines(b.flags),
    legalComments: 'none',
    logLevel: 'warning',
  });
}
console.log('built', BUILDS.map((b) => b.out).join(', '));
