import { spawn } from 'node:child_process';
import http from 'node:http';
import tls, { type TLSSocket } from 'node:tls';

export interface CurlResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** Runs the real curl CLI. */
export function curl(args: string[], input?: Buffer | string): Promise<CurlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('curl', ['-sS', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out), stderr: err }));
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

/** curl through `proxy`, trusting its CA, discarding the body: stdout is the HTTP status (000 when cut). */
export function curlStatusThroughProxy(
  proxy: { readonly url: string; readonly caCertOutPath: string },
  url: string,
  extra: readonly string[] = [],
): Promise<CurlResult> {
  return curl([
    '--proxy',
    proxy.url,
    '--cacert',
    proxy.caCertOutPath,
    '-o',
    '/dev/null',
    '-w',
    '%{http_code}',
    ...extra,
    url,
  ]);
}

/** Opens a CONNECT tunnel through the proxy and returns the raw socket. */
export function connectTunnel(
  proxyPort: number,
  authority: string,
): Promise<{ socket: import('node:net').Socket; status: number }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: proxyPort, method: 'CONNECT', path: authority });
    req.once('connect', (res, socket) => resolve({ socket, status: res.statusCode ?? 0 }));
    req.once('error', reject);
    req.end();
  });
}

/** A TLS session to `host:port` through the proxy, verified against `ca`. */
export async function tlsThroughProxy(
  proxyPort: number,
  host: string,
  port: number,
  ca: string,
): Promise<TLSSocket> {
  const { socket, status } = await connectTunnel(proxyPort, `${host}:${port}`);
  if (status !== 200) throw new Error(`CONNECT answered ${status}`);
  return new Promise((resolve, reject) => {
    const s = tls.connect({ socket, servername: host, ca, ALPNProtocols: ['h2', 'http/1.1'] }, () =>
      resolve(s),
    );
    s.once('error', reject);
  });
}

/**
 * An http.Agent whose connections are TLS sessions through the proxy, so Node's
 * own http client (keep-alive, chunked, 100-continue) can be used as a real client.
 */
export function agentThroughProxy(proxyPort: number, ca: string, keepAlive = true): http.Agent {
  const agent = new http.Agent({ keepAlive, maxSockets: 1 });
  // biome-ignore lint/suspicious/noExplicitAny: Agent.createConnection takes a callback form that @types/node omits
  (agent as any).createConnection = (
    options: { host: string; port: number },
    cb: (err: Error | null, s?: TLSSocket) => void,
  ) => {
    tlsThroughProxy(proxyPort, options.host, Number(options.port), ca).then(
      (s) => cb(null, s),
      (e: Error) => cb(e),
    );
  };
  return agent;
}
