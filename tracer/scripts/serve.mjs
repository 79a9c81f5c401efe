// Serves the demo comparison site with the built tracer: used by the browser tests and by
// `make demo` (`node scripts/serve.mjs --port 8081 --collector http://127.0.0.1:8000`).
//
//   /config.js          window.aaConfig for the page (site id, collector endpoint, overrides)
//   /aa.js ...          dist/ builds
//   /merchant/...       a stand-in merchant page (affiliate links point here)
//   /frame.html         a chart inside an iframe (served on another origin in the tests)
//   anything else       the comparison page (demo/index.html), so MPA and SPA paths all work
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const read = (p) => readFileSync(root + p, 'utf8');

/**
 * @param {{ port?: number, host?: string, collector: string, merchant?: string, frameOrigin?: string,
 *           config?: () => Record<string, unknown>, script?: () => string }} o
 */
export function startSite(o) {
  /** Requests seen, for tests: { path, purpose } (purpose: the Sec-Purpose header of prefetch/prerender). */
  const requests = [];
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname;
    requests.push({ path, purpose: req.headers['sec-purpose'] || null });
    const origin = `http://${req.headers.host}`;
    const fill = (html) =>
      html
        .replaceAll('{{MERCHANT}}', o.merchant || origin + '/merchant')
        .replaceAll('{{FRAME_ORIGIN}}', o.frameOrigin || origin)
        .replace('<script src="/aa.js">', `<script src="${(o.script && o.script()) || '/aa.js'}">`);
    const send = (status, type, body, headers = {}) => {
      res.writeHead(status, { 'content-type': type, ...headers });
      res.end(body);
    };
    try {
      if (path == '/config.js') {
        const cfg = { site: 'demo', endpoint: o.collector, ...(o.config ? o.config() : {}) };
        return send(200, 'text/javascript', `window.aaConfig = ${JSON.stringify(cfg)};`, { 'cache-control': 'no-store' });
      }
      if (/^\/aa(\.core)?\.m?js$/.test(path))
        return send(200, 'text/javascript', read('dist' + path), { 'cache-control': 'no-store' });
      if (path.startsWith('/merchant/')) return send(200, 'text/html', read('demo/merchant.html'));
      if (path == '/frame.html' || path == '/frame-host.html') return send(200, 'text/html', fill(read('demo' + path)));
      if (path == '/favicon.ico') return send(204, 'text/plain', '');
      return send(200, 'text/html', fill(read('demo/index.html')));
    } catch (e) {
      return send(500, 'text/plain', String(e));
    }
  });
  return new Promise((resolve) =>
    server.listen(o.port || 0, o.host || '127.0.0.1', () => {
      const url = `http://${o.host || '127.0.0.1'}:${server.address().port}`;
      resolve({ url, port: server.address().port, requests, close: () => new Promise((r) => (server.closeAllConnections(), server.close(r))) });
    }),
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name, dflt) => {
    const i = process.argv.indexOf('--' + name);
    return i > 0 ? process.argv[i + 1] : process.env['DEMO_' + name.toUpperCase()] || dflt;
  };
  const site = await startSite({ port: +arg('port', '8081'), collector: arg('collector', 'http://127.0.0.1:8000') });
  console.log(`demo comparison page: ${site.url}/  (events go to ${arg('collector', 'http://127.0.0.1:8000')}/v1/events)`);
}
