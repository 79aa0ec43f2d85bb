import { access, readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import { runChecked, startService, stopChild } from './run-command.js';
import { PROJECT_ROOT } from './tools.js';

const CLI = join(PROJECT_ROOT, 'dist/cli/main.js');

export interface RunningInjector {
  /** https://127.0.0.1:PORT */
  url: string;
  /** base64 PEM of the CA that signed the serving certificate (a webhook's caBundle). */
  caBundle: string;
  caPem: string;
  configPath: string;
  logPath: string;
  /** Replaces the config file's content (the injector reloads it). */
  writeConfig(config: unknown): Promise<void>;
  log(): Promise<string>;
  /** POST a body to a path, trusting `caPem` (default: the bootstrap CA); resolves with status and body text. */
  post(path: string, body: string | Buffer, caPem?: string): Promise<{ status: number; body: string }>;
  stop(): Promise<void>;
}

/**
 * Starts `provenance-proxy inject` on a free loopback port with a serving certificate from
 * its own `--bootstrap-certs` (for 127.0.0.1) and waits for /healthz (bounded).
 */
export async function startInjector(dir: string, config: unknown): Promise<RunningInjector> {
  await access(CLI).catch(() => {
    throw new Error(`${CLI} does not exist: run \`npm run build\` first`);
  });
  const certDir = join(dir, 'webhook-tls');
  const bootstrap = await runChecked(process.execPath, [
    CLI,
    'inject',
    '--bootstrap-certs',
    certDir,
    '--host',
    '127.0.0.1',
  ]);
  const caBundle = bootstrap.stdout.trim();
  const caPem = await readFile(join(certDir, 'ca.crt'), 'utf8');
  const configPath = join(dir, 'injector.json');
  const writeConfig = (value: unknown) =>
    writeFile(configPath, typeof value === 'string' ? value : JSON.stringify(value, null, 2));
  await writeConfig(config);
  const port = await freePort();
  const url = `https://127.0.0.1:${port}`;
  const logPath = join(dir, 'injector.log');
  const send = (method: string, path: string, body?: string | Buffer, ca = caPem) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        `${url}${path}`,
        { method, ca, agent: false, headers: { 'content-type': 'application/json' } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
          );
          res.on('error', reject);
        },
      );
      req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end(body);
    });
  const child = await startService(
    process.execPath,
    [
      CLI,
      'inject',
      `--config=${configPath}`,
      `--tls-cert=${join(certDir, 'tls.crt')}`,
      `--tls-key=${join(certDir, 'tls.key')}`,
      `--listen=127.0.0.1:${port}`,
      '--reload-interval=100ms',
    ],
    {
      logPath,
      what: 'injector /healthz',
      ready: async () => (await send('GET', '/healthz')).status === 200,
      attempts: 100,
      intervalMs: 100,
    },
  );
  return {
    url,
    caBundle,
    caPem,
    configPath,
    logPath,
    writeConfig,
    log: () => readFile(logPath, 'utf8'),
    post: (path, body, ca) => send('POST', path, body, ca),
    stop: () => stopChild(child),
  };
}
