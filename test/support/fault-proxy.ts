import { EventEmitter, once } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { type AddressInfo, createServer as createNetServer, type Socket } from 'node:net';
import { createSecureContext, TLSSocket } from 'node:tls';
import { REGISTRY_HOSTNAME, type TestCa } from './pki.js';
import type { RunningRegistry } from './registry.js';

/** What to do with a request that matches a rule. */
export type FaultAction =
  /** Answer with this status without forwarding (the registry never sees the request). */
  | { kind: 'respond'; status: number; body?: string; headers?: Record<string, string> }
  /** Forward, and after `bytes` of request body reset the client's TCP connection (RST) and the upstream request. */
  | { kind: 'reset-after'; bytes: number }
  /** Forward at least `bytes` of request body, then stop reading until `releaseStalls()` or close. */
  | { kind: 'stall-after'; bytes: number }
  /**
   * Forward the request whole and hold the registry's answer (fired once it arrived) until
   * `releaseStalls()` or close: the registry has acted, the client does not know yet.
   */
  | { kind: 'hold-response' };

export interface FaultRule {
  name: string;
  method?: string;
  /** Matched against the request path (without query). */
  path: RegExp;
  /** How many matching requests to let through untouched before the fault applies (default 0). */
  skip?: number;
  /** How many matching requests get the fault (default 1); later ones are forwarded normally. */
  times?: number;
  action: FaultAction;
}

export interface FaultEvent {
  rule: string;
  method: string;
  path: string;
  action: FaultAction['kind'];
}

export interface RunningFaultProxy {
  /** What clients address instead of the registry: registry.test:<port>. */
  host: string;
  port: number;
  addRule(rule: FaultRule): void;
  /** Ends the named rules' faults (however many were left): the registry behind is healthy again. */
  retire(rule: string): void;
  /** Faults injected so far. */
  events: FaultEvent[];
  /** Resolves when the named rule has fired (event-driven, no polling). */
  fired(rule: string): Promise<FaultEvent>;
  releaseStalls(): void;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'te',
  'trailer',
  'upgrade',
]);

/**
 * A TLS reverse proxy in front of a real registry that injects faults the registry itself
 * cannot produce on demand (a 500 on a manifest PUT, a 416 on a chunk, a reset in the middle
 * of a body, a stalled upload). Everything else is forwarded unchanged, with the client's Host
 * header, so the registry builds its `Location` URLs for this proxy's host:port.
 */
export async function startFaultProxy(registry: RunningRegistry, ca: TestCa): Promise<RunningFaultProxy> {
  const rules: (FaultRule & { toSkip: number; remaining: number })[] = [];
  const events: FaultEvent[] = [];
  const emitter = new EventEmitter();
  const rawByTls = new WeakMap<Socket, Socket>();
  const sockets = new Set<Socket>();
  const stalled = new Set<IncomingMessage>();
  const heldResponses = new Set<() => void>();
  const secureContext = createSecureContext({ cert: ca.serverCertPem, key: ca.serverKeyPem });

  const http = createHttpServer((req, res) => handle(req, res));
  // TLS is set up by hand on each raw socket so a fault can reset the raw TCP connection.
  const server = createNetServer((raw) => {
    sockets.add(raw);
    raw.once('close', () => sockets.delete(raw));
    raw.on('error', () => raw.destroy());
    const tls = new TLSSocket(raw, { isServer: true, secureContext, ALPNProtocols: ['http/1.1'] });
    tls.on('error', () => tls.destroy());
    rawByTls.set(tls, raw);
    http.emit('connection', tls);
  });

  function record(rule: FaultRule, req: IncomingMessage): void {
    const event: FaultEvent = {
      rule: rule.name,
      method: req.method ?? '',
      path: pathOf(req),
      action: rule.action.kind,
    };
    events.push(event);
    emitter.emit(rule.name, event);
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    let rule = rules.find(
      (candidate) =>
        candidate.remaining > 0 &&
        (candidate.method === undefined || candidate.method === req.method) &&
        candidate.path.test(pathOf(req)),
    );
    if (rule !== undefined && rule.toSkip > 0) {
      rule.toSkip -= 1;
      rule = undefined;
    }
    const action = rule?.action;
    if (rule !== undefined && action?.kind === 'respond') {
      rule.remaining -= 1;
      req.resume();
      req.once('end', () => {
        record(rule, req);
        const body =
          action.body ??
          JSON.stringify({ errors: [{ code: 'UNKNOWN', message: `injected by ${rule.name}` }] });
        res.writeHead(action.status, {
          'content-type': 'application/json; charset=utf-8',
          'docker-distribution-api-version': 'registry/2.0',
          'content-length': Buffer.byteLength(body),
          ...action.headers,
        });
        res.end(body);
      });
      return;
    }
    forward(req, res, rule);
  }

  function forward(
    req: IncomingMessage,
    res: ServerResponse,
    rule: (FaultRule & { remaining: number }) | undefined,
  ): void {
    const upstream = httpsRequest(
      {
        host: '127.0.0.1',
        port: registry.port,
        servername: REGISTRY_HOSTNAME,
        ca: ca.caCertPem,
        method: req.method,
        path: req.url,
        headers: forwardedHeaders(req.headers),
        agent: false,
      },
      (upstreamRes) => {
        const relay = () => {
          res.writeHead(upstreamRes.statusCode ?? 502, forwardedHeaders(upstreamRes.headers));
          upstreamRes.pipe(res);
        };
        if (rule?.action.kind !== 'hold-response') {
          relay();
          return;
        }
        heldResponses.add(relay);
        record(rule, req);
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    const action = rule?.action;
    if (rule === undefined || action === undefined || action.kind === 'respond') {
      req.pipe(upstream);
      return;
    }
    if (action.kind === 'hold-response') {
      rule.remaining -= 1;
      req.pipe(upstream);
      return;
    }
    let sent = 0;
    let passThrough = false;
    req.on('data', (chunk: Buffer) => {
      if (passThrough) {
        upstream.write(chunk);
        return;
      }
      const room = action.bytes - sent;
      if (chunk.length < room) {
        sent += chunk.length;
        upstream.write(chunk);
        return;
      }
      passThrough = true;
      // A byte-threshold rule is used up when it fires, not when it matches: smaller bodies
      // (or a parallel upload that got there first) pass through untouched.
      if (rule.remaining <= 0) {
        upstream.write(chunk);
        return;
      }
      rule.remaining -= 1;
      record(rule, req);
      if (action.kind === 'reset-after') {
        upstream.write(chunk.subarray(0, room));
        upstream.destroy();
        const raw = rawByTls.get(req.socket);
        if (raw !== undefined) raw.resetAndDestroy();
        else req.socket.destroy();
      } else {
        upstream.write(chunk);
        req.pause();
        stalled.add(req);
      }
    });
    req.once('end', () => upstream.end());
  }

  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    host: `${REGISTRY_HOSTNAME}:${port}`,
    port,
    addRule(rule) {
      rules.push({ ...rule, toSkip: rule.skip ?? 0, remaining: rule.times ?? 1 });
    },
    retire(ruleName) {
      for (const rule of rules) if (rule.name === ruleName) rule.remaining = 0;
    },
    events,
    fired(ruleName) {
      const already = events.find((event) => event.rule === ruleName);
      if (already !== undefined) return Promise.resolve(already);
      return once(emitter, ruleName).then(([event]) => event as FaultEvent);
    },
    releaseStalls() {
      for (const req of stalled) req.resume();
      stalled.clear();
      for (const relay of heldResponses) relay();
      heldResponses.clear();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        http.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function pathOf(req: IncomingMessage): string {
  return new URL(req.url ?? '/', 'https://fault.invalid').pathname;
}

function forwardedHeaders(headers: IncomingMessage['headers']): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name.toLowerCase())) out[name] = value;
  }
  return out;
}
