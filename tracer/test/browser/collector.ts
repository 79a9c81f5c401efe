// A stub collector on 127.0.0.1 speaking the real wire contract: records every request (method,
// content type, preflight or not, parsed events), answers 200 {accepted, rejected} by default,
// can be told to answer other statuses, and serves the /r click redirect.
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { contractErrors } from '../contract';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type WireEvent = Record<string, any> & { event_type: string; event_id: string };

export interface Recorded {
  method: string;
  path: string;
  contentType: string | undefined;
  /** Request headers the browser sent that are not CORS-safelisted (would force a preflight). */
  at: number;
  status: number;
  events: WireEvent[];
}

export interface Reply {
  status: number;
  retryAfter?: number;
  /** Delay before answering, ms. */
  delay?: number;
}

export interface Collector {
  url: string;
  requests: Recorded[];
  /** Events of the requests answered 2xx (and of /r redirects), in arrival order. */
  delivered: () => WireEvent[];
  /** Replies for the next POSTs, consumed in order; afterwards 200. */
  replies: Reply[];
  /** Contract violations seen in any request body. */
  violations: string[];
  close(): Promise<void>;
}

const body = (req: IncomingMessage): Promise<string> =>
  new Promise((resolve) => {
    let s = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (s += c));
    req.on('end', () => resolve(s));
  });

export async function startCollector(): Promise<Collector> {
  const requests: Recorded[] = [];
  const violations: string[] = [];
  const replies: Reply[] = [];
  const cors = {
    'access-control-allow-origin': '*',
    'access-control-expose-headers': 'Retry-After',
    'access-control-allow-methods': 'POST, GET',
    'access-control-allow-headers': 'content-type',
  };
  const server = createServer(async (req, res) => {
    const url = new URL(req.url!, 'http://x');
    const rec: Recorded = { method: req.method!, path: url.pathname, contentType: req.headers['content-type'], at: Date.now(), status: 0, events: [] };
    requests.push(rec);
    if (req.method == 'OPTIONS') {
      rec.status = 204;
      res.writeHead(204, cors).end();
      return;
    }
    if (req.method == 'GET' && url.pathname == '/r') {
      const ev = JSON.parse(Buffer.from(url.searchParams.get('e')!, 'base64url').toString('utf8'));
      violations.push(...contractErrors(ev));
      rec.events = [ev];
      rec.status = 302;
      res.writeHead(302, { location: url.searchParams.get('u')! }).end();
      return;
    }
    if (req.method != 'POST' || url.pathname != '/v1/events') {
      rec.status = 404;
      res.writeHead(404, cors).end();
      return;
    }
    const text = await body(req);
    try {
      rec.events = JSON.parse(text).events;
    } catch {
      violations.push(`unparseable body: ${text.slice(0, 200)}`);
    }
    for (const ev of rec.events) violations.push(...contractErrors(ev));
    const reply = replies.shift() || { status: 200 };
    if (reply.delay) await new Promise((r) => setTimeout(r, reply.delay));
    rec.status = reply.status;
    const headers = { ...cors, 'content-type': 'application/json', ...(reply.retryAfter != null ? { 'retry-after': String(reply.retryAfter) } : {}) };
    res.writeHead(reply.status, headers).end(reply.status == 200 ? JSON.stringify({ accepted: rec.events.length, rejected: 0 }) : '{}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    replies,
    violations,
    delivered: () => requests.filter((r) => r.status >= 200 && r.status < 400 && r.method != 'OPTIONS').flatMap((r) => r.events),
    close: () => new Promise((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}
