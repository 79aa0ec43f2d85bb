import { once } from 'node:events';
import net, { type AddressInfo, type Socket } from 'node:net';
import tls from 'node:tls';
import { testPki } from '../support/pki.js';

/** What the origin does for one fuzz case, found by the `fz<id>` token in the request path. */
export interface OriginScript {
  /** Raw bytes written as the answer (head, body, chunks: whatever the case says). */
  readonly answer: Buffer | ((requestBody: Buffer) => Buffer);
  /** Keep the connection open after the answer instead of ending it (the proxy must not wait forever). */
  readonly hold: boolean;
}

export interface MisbehavingOrigin {
  /** TLS port (certificate for localhost / 127.0.0.1, signed by testPki's CA). */
  readonly tlsPort: number;
  readonly plainPort: number;
  script(id: number, script: OriginScript): void;
  forget(id: number): void;
  close(): Promise<void>;
}

const MAX_REQUEST_BYTES = 8 * 1024 * 1024;
const HOLD_LIMIT_MS = 30_000;

/**
 * A real TCP and TLS server that answers each request with raw bytes a fuzz case chose:
 * a malformed head, a cut body, a bad chunk, a bad trailer, garbage. A real registry cannot be
 * made to send these, so this is the one fake server, and it misbehaves on the wire only.
 * It reads the request head and body (Content-Length or chunked) first, so the proxy relays
 * the whole request before the answer starts.
 */
export async function startMisbehavingOrigin(): Promise<MisbehavingOrigin> {
  const pki = testPki();
  const scripts = new Map<number, OriginScript>();
  const sockets = new Set<Socket>();
  const onSocket = (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    serve(socket, scripts);
  };
  const plain = net.createServer(onSocket);
  const secure = tls.createServer({ key: pki.goodKey, cert: pki.goodCert }, onSocket);
  secure.on('tlsClientError', () => {});
  plain.listen(0, '127.0.0.1');
  secure.listen(0, '127.0.0.1');
  await Promise.all([once(plain, 'listening'), once(secure, 'listening')]);
  return {
    tlsPort: (secure.address() as AddressInfo).port,
    plainPort: (plain.address() as AddressInfo).port,
    script: (id, script) => scripts.set(id, script),
    forget: (id) => scripts.delete(id),
    async close() {
      for (const socket of sockets) socket.destroy();
      await Promise.all([
        new Promise((resolve) => plain.close(resolve)),
        new Promise((resolve) => secure.close(resolve)),
      ]);
    },
  };
}

function serve(socket: Socket, scripts: Map<number, OriginScript>): void {
  let buffered = Buffer.alloc(0);
  let answered = false;
  socket.on('data', (chunk: Buffer) => {
    if (answered) return;
    buffered = Buffer.concat([buffered, chunk]);
    if (buffered.length > MAX_REQUEST_BYTES) {
      socket.destroy();
      return;
    }
    const request = completeRequest(buffered);
    if (!request) return;
    answered = true;
    const id = /fz(\d+)/.exec(request.path)?.[1];
    const script = id === undefined ? undefined : scripts.get(Number(id));
    if (!script) {
      socket.end('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n');
      return;
    }
    const answer = typeof script.answer === 'function' ? script.answer(request.body) : script.answer;
    if (script.hold) {
      socket.write(answer);
      socket.setTimeout(HOLD_LIMIT_MS, () => socket.destroy());
    } else socket.end(answer);
  });
}

/** The request's path and body once its head and body (by Content-Length or chunked) are in. */
function completeRequest(bytes: Buffer): { path: string; body: Buffer } | null {
  const headEnd = bytes.indexOf('\r\n\r\n');
  if (headEnd < 0) return null;
  const head = bytes.subarray(0, headEnd).toString('latin1');
  const path = head.split(' ')[1] ?? '';
  const rest = bytes.subarray(headEnd + 4);
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (length) {
    const size = Number(length[1]);
    return rest.length >= size ? { path, body: rest.subarray(0, size) } : null;
  }
  if (/\r\ntransfer-encoding:[^\r]*chunked/i.test(head)) {
    // Enough for the proxy's well-formed re-chunking: the body ends at the zero chunk.
    const end = rest.indexOf('0\r\n\r\n');
    return end >= 0 && (end === 0 || rest.subarray(end - 2, end).toString() === '\r\n')
      ? { path, body: dechunk(rest.subarray(0, end)) }
      : null;
  }
  return { path, body: Buffer.alloc(0) };
}

function dechunk(bytes: Buffer): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const lineEnd = bytes.indexOf('\r\n', offset);
    if (lineEnd < 0) break;
    const size = Number.parseInt(bytes.subarray(offset, lineEnd).toString(), 16);
    if (!Number.isFinite(size) || size <= 0) break;
    parts.push(bytes.subarray(lineEnd + 2, lineEnd + 2 + size));
    offset = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
}
