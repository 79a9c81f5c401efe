// Builds dist/: index.html, app.js (minified, ES2020) and app.css (uPlot's styles + ours).
// The Python app serves exactly these three files; nothing is loaded from elsewhere.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';

const root = new URL('..', import.meta.url).pathname;
rmSync(root + 'dist', { recursive: true, force: true });
mkdirSync(root + 'dist');
await build({
  absWorkingDir: root,
  entryPoints: { app: 'src/main.ts' },
  outdir: 'dist',
  bundle: true,
  minify: true,
  format: 'iife',
  target: 'es2020',
  legalComments: 'none',
  logLevel: 'warning',
});
copyFileSync(root + 'src/index.html', root + 'dist/index.html');
const sizes = ['index.html', 'app.js', 'app.css'].map((f) => {
  const raw = readFileSync(root + 'dist/' + f);
  return `${f} ${statSync(root + 'dist/' + f).size} B (${gzipSync(raw).length} B gz)`;
});
console.log('built dist/:', sizes.join(', '));
