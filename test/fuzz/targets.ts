import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { connectTunnel } from '../support/clients.js';
import type { MisbehavingOrigin } from './misbehaving-origin.js';
import { mutate, mutateJson } from './mutate.js';
import type { Prng } from './prng.js';
import {
  connectSeeds,
  manifestSeeds,
  ociErrorSeeds,
  registryHead,
  requestSeeds,
  responseSeeds,
  sha256,
} from './seeds.js';

/** The side of the proxy an input attacks, and how it is delivered. */
export const TARGETS = [
  'plain_request',
  'connect_line',
  'tls_hello_tunnel',
  'tls_hello_plain',
  'tunnelled_request',
  'upstream_response',
  'registry_answer',
  'manifest_put',
] as const;
export type TargetName = (typeof TARGETS)[number];

/** How one input ended, seen from the client. */
export type Outcome =
  | { kind: 'status'; status: number; statusLine: string }
  | { kind: 'closed' }
  | { kind: 'hang' }
  /** The client could not even set up its delivery (a valid CONNECT or TLS handshake failed). */
  | { kind: 'setup_failed'; detail: string };

export interface FuzzContext {
  readonly proxyPort: number;
  /** The proxy's CA, for the client side of intercepted TLS. */
  readonly proxyCaPem: string;
  readonly origin: MisbehavingOrigin;
  readonly clientHello: Buffer;
  /** An input that has neither a status nor a close by then is a hang. */
  readonly deadlineMs: number;
}

export interface FuzzCase {
  readonly id: number;
  readonly target: TargetName;
  readonly mutations: readonly string[];
  /** The first bytes of the mutated input, for the report. */
  readonly preview: string;
  run(ctx: FuzzContext): Promise<Outcome>;
}

const STATUS_LINE = /^HTTP\/\d\.\d (\d{3})[^\r\n]*\r\n/;

/**
 * Waits for the first of: a complete status line, the close, the deadline. `http` says the
 * answer is HTTP (a TLS alert on a hello target is neither status nor garbage: only the close counts).
 */
function outcomeOf(socket: Duplex, deadlineMs: number, http: boolean): Promise<Outcome> {
  return new Promise((resolve) => {
    let answer = '';
    let settled = false;
    const settle = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => settle({ kind: 'hang' }), deadlineMs);
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      if (!http || answer.length > 4096) return;
      answer += chunk.toString('latin1');
      const line = STATUS_LINE.exec(answer);
      if (line) settle({ kind: 'status', status: Number(line[1]), statusLine: line[0].trim() });
    });
    socket.once('close', () => settle({ kind: 'closed' }));
  });
}

/** Writes the input; most cases then half-close, some keep writing open (the proxy's timeouts must cut them). */
function deliver(socket: Duplex, input: Buffer, halfClose: boolean): void {
  if (halfClose) socket.end(input);
  else socket.write(input);
}

function rawSocket(ctx: FuzzContext): net.Socket {
  return net.connect(ctx.proxyPort, '127.0.0.1');
}

async function tunnel(ctx: FuzzContext, authority: string): Promise<net.Socket> {
  const { socket, status } = await connectTunnel(ctx.proxyPort, authority);
  if (status !== 200) {
    socket.destroy();
    throw new Error(`CONNECT ${authority} answered ${status}`);
  }
  return socket;
}

/**
 * A valid client's TLS session through the proxy. It is tried twice: the proxy cuts handshakes
 * at its 1 s header limit, which a machine shared by many test runs can exceed once; a valid
 * client refused twice is a failure.
 */
async function tlsTunnel(ctx: FuzzContext, port: number): Promise<tls.TLSSocket> {
  const attempt = async () => {
    const socket = await tunnel(ctx, `localhost:${port}`);
    return new Promise<tls.TLSSocket>((resolve, reject) => {
      const secure = tls.connect({ socket, servername: 'localhost', ca: ctx.proxyCaPem }, () =>
        resolve(secure),
      );
      secure.once('error', reject);
    });
  };
  return attempt().catch(attempt);
}

async function withSetup(setup: () => Promise<Outcome>): Promise<Outcome> {
  try {
    return await setup();
  } catch (error) {
    return { kind: 'setup_failed', detail: (error as Error).message };
  }
}

function preview(bytes: Buffer): string {
  return JSON.stringify(bytes.subarray(0, 80).toString('latin1'));
}

/** One input for `target`, fully decided by `rng` (and the origin's ports, known at run time). */
export function makeCase(id: number, target: TargetName, rng: Prng): FuzzCase {
  const halfClose = rng.chance(0.85);
  const hold = rng.chance(0.05);
  switch (target) {
    case 'plain_request':
      return lazyCase(
        id,
        target,
        (ctx) => {
          const authority = `127.0.0.1:${ctx.origin.plainPort}`;
          const seed = rng.pick(requestSeeds((p) => `http://${authority}${p}`, authority));
          return { input: mutate(Buffer.from(seed, 'latin1'), rng), deliver: 'plain' };
        },
        halfClose,
      );
    case 'tunnelled_request':
      return lazyCase(
        id,
        target,
        (ctx) => {
          const seed = rng.pick(requestSeeds((p) => p, `localhost:${ctx.origin.tlsPort}`));
          return { input: mutate(Buffer.from(seed, 'latin1'), rng), deliver: 'tls' };
        },
        halfClose,
      );
    case 'connect_line':
      return lazyCase(
        id,
        target,
        (ctx) => {
          const seed = rng.pick(connectSeeds(`localhost:${ctx.origin.tlsPort}`));
          return { input: mutate(Buffer.from(seed, 'latin1'), rng), deliver: 'plain' };
        },
        halfClose,
      );
    case 'tls_hello_tunnel':
      return lazyCase(
        id,
        target,
        (ctx) => ({ input: mutate(ctx.clientHello, rng), deliver: 'tunnel' }),
        halfClose,
      );
    case 'tls_hello_plain':
      return lazyCase(
        id,
        target,
        (ctx) => ({ input: mutate(ctx.clientHello, rng), deliver: 'plain_tls' }),
        halfClose,
      );
    case 'upstream_response':
      return lazyCase(
        id,
        target,
        (ctx) => {
          const answer = mutate(Buffer.from(rng.pick(responseSeeds()), 'latin1'), rng);
          ctx.origin.script(id, { answer: answer.bytes, hold });
          return { ...originRequest(ctx, id, rng, 'GET', `/fz${id}/answer`, null), input: answer };
        },
        true,
      );
    case 'registry_answer':
      return lazyCase(
        id,
        target,
        (ctx) => {
          const manifest = rng.pick(manifestSeeds());
          const isError = rng.chance(0.3);
          const source = isError ? rng.pick(ociErrorSeeds()) : manifest.body;
          const body = rng.chance(0.5) ? mutateJson(source, rng) : mutate(Buffer.from(source), rng);
          const digest = rng.chance(0.8)
            ? sha256(body.bytes)
            : rng.pick([null, 'sha256:zz', sha256(Buffer.from('other'))]);
          const head = registryHead(
            isError ? rng.pick([400, 401, 404, 500]) : 200,
            isError ? 'application/json' : manifest.mediaType,
            body.bytes,
            digest,
          );
          const answer = Buffer.concat([Buffer.from(head, 'latin1'), body.bytes]);
          ctx.origin.script(id, { answer, hold });
          const path = rng.pick([
            `/v2/fuzz/fz${id}/manifests/latest`,
            `/v2/fuzz/fz${id}/manifests/${sha256(body.bytes)}`,
            `/v2/fuzz/fz${id}/blobs/${sha256(body.bytes)}`,
          ]);
          return { ...originRequest(ctx, id, rng, rng.pick(['GET', 'HEAD']), path, null), input: body };
        },
        true,
      );
    case 'manifest_put':
      return lazyCase(
        id,
        target,
        (ctx) => {
          const manifest = rng.pick(manifestSeeds());
          const body = rng.chance(0.5)
            ? mutateJson(manifest.body, rng)
            : mutate(Buffer.from(manifest.body), rng);
          const refusal = rng.chance(0.2) ? mutate(Buffer.from(rng.pick(ociErrorSeeds())), rng).bytes : null;
          ctx.origin.script(id, {
            hold,
            answer: (received) =>
              refusal
                ? Buffer.concat([
                    Buffer.from(registryHead(400, 'application/json', refusal, null), 'latin1'),
                    refusal,
                  ])
                : Buffer.from(
                    registryHead(
                      201,
                      'text/plain',
                      Buffer.alloc(0),
                      rng.chance(0.9) ? sha256(received) : 'sha256:bad',
                    ),
                    'latin1',
                  ),
          });
          const path = `/v2/fuzz/fz${id}/manifests/${rng.pick(['latest', 'v1', sha256(body.bytes)])}`;
          return {
            ...originRequest(ctx, id, rng, 'PUT', path, { mediaType: manifest.mediaType, body: body.bytes }),
            input: body,
          };
        },
        true,
      );
  }
}

interface Prepared {
  input: { bytes: Buffer; mutations: string[] };
  deliver: 'plain' | 'tls' | 'tunnel' | 'plain_tls' | 'tls_well_formed' | 'plain_well_formed';
  request?: Buffer;
}

/** A well-formed request to the misbehaving origin, through an intercepted tunnel (mostly) or plain HTTP. */
function originRequest(
  ctx: FuzzContext,
  id: number,
  rng: Prng,
  method: string,
  path: string,
  body: { mediaType: string; body: Buffer } | null,
): Omit<Prepared, 'input'> {
  const plain = rng.chance(0.25);
  const authority = plain ? `127.0.0.1:${ctx.origin.plainPort}` : `localhost:${ctx.origin.tlsPort}`;
  const target = plain ? `http://${authority}${path}` : path;
  // Some answers go to an Upgrade request: the forwarder relays those on another path.
  const upgrade =
    method === 'GET' && rng.chance(0.15)
      ? 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'
      : '';
  const head = `${method} ${target} HTTP/1.1\r\nHost: ${authority}\r\nX-Fuzz-Case: ${id}\r\n${upgrade}${
    body ? `Content-Type: ${body.mediaType}\r\nContent-Length: ${body.body.length}\r\n` : ''
  }\r\n`;
  return {
    deliver: plain ? 'plain_well_formed' : 'tls_well_formed',
    request: Buffer.concat([Buffer.from(head, 'latin1'), body?.body ?? Buffer.alloc(0)]),
  };
}

/** Cases are prepared when they run: the origin's ports are known only then. */
function lazyCase(
  id: number,
  target: TargetName,
  prepare: (ctx: FuzzContext) => Prepared,
  halfClose: boolean,
): FuzzCase {
  const fuzzCase = {
    id,
    target,
    mutations: [] as string[],
    preview: '',
    run: (ctx: FuzzContext) =>
      withSetup(async () => {
        const prepared = prepare(ctx);
        fuzzCase.mutations = prepared.input.mutations;
        fuzzCase.preview = preview(prepared.input.bytes);
        try {
          return await runPrepared(ctx, prepared, halfClose);
        } finally {
          ctx.origin.forget(id);
        }
      }),
  };
  return fuzzCase;
}

async function runPrepared(ctx: FuzzContext, prepared: Prepared, halfClose: boolean): Promise<Outcome> {
  const { bytes } = prepared.input;
  switch (prepared.deliver) {
    case 'plain':
    case 'plain_tls': {
      const socket = rawSocket(ctx);
      const outcome = outcomeOf(socket, ctx.deadlineMs, prepared.deliver === 'plain');
      deliver(socket, bytes, halfClose);
      return outcome;
    }
    case 'tunnel': {
      const socket = await tunnel(ctx, `localhost:${ctx.origin.tlsPort}`);
      const outcome = outcomeOf(socket, ctx.deadlineMs, false);
      deliver(socket, bytes, halfClose);
      return outcome;
    }
    case 'tls': {
      const socket = await tlsTunnel(ctx, ctx.origin.tlsPort);
      const outcome = outcomeOf(socket, ctx.deadlineMs, true);
      deliver(socket, bytes, halfClose);
      return outcome;
    }
    case 'tls_well_formed': {
      const socket = await tlsTunnel(ctx, ctx.origin.tlsPort);
      const outcome = outcomeOf(socket, ctx.deadlineMs, true);
      socket.write(prepared.request ?? Buffer.alloc(0));
      return outcome;
    }
    case 'plain_well_formed': {
      const socket = rawSocket(ctx);
      const outcome = outcomeOf(socket, ctx.deadlineMs, true);
      socket.write(prepared.request ?? Buffer.alloc(0));
      return outcome;
    }
  }
}
