import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import { join } from 'node:path';
import { watchFiles } from '../config/file-watcher.js';
import { INJECT_COMMAND } from '../config/inject-table.js';
import { formatHelp, parseOptions } from '../config/option-table.js';
import type { ProvenanceProxyError } from '../errors.js';
import { admissionResponse, parseAdmissionReview } from '../inject/admission-review.js';
import { ConfigSource } from '../inject/config-source.js';
import { type InjectionSource, planInjection } from '../inject/injection-plan.js';
import { mintWebhookCertificates, serviceHosts } from '../inject/webhook-certificates.js';
import { createLogger, type Logger } from '../log/logger.js';
import { listenOn } from '../net/listen.js';

const MAX_REVIEW_BYTES = 4 * 1024 * 1024;
const ROUTES: Record<string, InjectionSource> = { '/mutate/pod': 'pod', '/mutate/namespace': 'namespace' };

export async function injectCommand(argv: string[]): Promise<number> {
  const parsed = parseOptions(INJECT_COMMAND, argv);
  if (parsed === 'help') {
    process.stdout.write(formatHelp(INJECT_COMMAND));
    return 0;
  }
  const options = parsed.values;
  if (options.bootstrapCerts !== null) return bootstrapCerts(options.bootstrapCerts, options);
  return serve({
    configPath: options.config!,
    certPath: options.tlsCert!,
    keyPath: options.tlsKey!,
    listen: options.listen,
    reloadMs: options.reloadIntervalMs,
    log: createLogger(options.logLevel),
  });
}

async function bootstrapCerts(
  dir: string,
  opts: { service: string; namespace: string; hosts: readonly string[]; days: number },
): Promise<number> {
  const { days } = opts;
  const hosts = [...serviceHosts(opts.service, opts.namespace), ...opts.hosts];
  const certs = await mintWebhookCertificates({ hosts, validityDays: days });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'tls.crt'), certs.certPem, { mode: 0o644 });
  writeFileSync(join(dir, 'tls.key'), certs.keyPem, { mode: 0o600 });
  writeFileSync(join(dir, 'ca.crt'), certs.caPem, { mode: 0o644 });
  process.stderr.write(
    `wrote ${dir}/tls.crt, tls.key and ca.crt for ${hosts.join(', ')} (valid ${days} days); caBundle on stdout\n`,
  );
  process.stdout.write(`${Buffer.from(certs.caPem).toString('base64')}\n`);
  return 0;
}

interface ServeOptions {
  configPath: string;
  certPath: string;
  keyPath: string;
  listen: { host: string; port: number };
  reloadMs: number;
  log: Logger;
}

async function serve(opts: ServeOptions): Promise<number> {
  const { log } = opts;
  const config = new ConfigSource(opts.configPath, log);
  const tls = () => ({ cert: readFileSync(opts.certPath), key: readFileSync(opts.keyPath) });
  const server = createServer(
    {
      ...tls(),
      minVersion: 'TLSv1.2',
      // A stalled client is cut off within seconds (the check runs every second, not every 30).
      requestTimeout: 10_000,
      headersTimeout: 5_000,
      connectionsCheckingInterval: 1_000,
    },
    (req, res) => {
      handle(req, res, config, log).catch((error: unknown) => {
        log.error({ event: 'webhook_error', err: (error as Error).message }, 'webhook request failed');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('internal error\n');
      });
    },
  );
  const stopConfigWatch = watchFiles([opts.configPath], opts.reloadMs, () => config.reload());
  const stopTlsWatch = watchFiles([opts.certPath, opts.keyPath], opts.reloadMs, () => {
    try {
      server.setSecureContext(tls());
      log.info({ event: 'tls_reloaded' }, 'serving certificate reloaded');
    } catch (error) {
      log.error(
        { event: 'tls_rejected', reason: (error as Error).message },
        'serving certificate reload rejected',
      );
    }
  });
  const { port } = await listenOn(server, opts.listen.port, opts.listen.host);
  log.info(
    {
      event: 'listening',
      host: opts.listen.host,
      port,
      image: config.current.image,
      mode: config.current.mode,
    },
    `injector webhook listening on https://${opts.listen.host}:${port}`,
  );
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  stopConfigWatch();
  stopTlsWatch();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  return 0;
}

async function handle(req: IncomingMessage, res: ServerResponse, config: ConfigSource, log: Logger) {
  const path = new URL(req.url ?? '/', 'https://webhook').pathname;
  if (req.method === 'GET' && (path === '/healthz' || path === '/readyz')) {
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    return;
  }
  const source = ROUTES[path];
  if (source === undefined || req.method !== 'POST') {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    return;
  }
  const body = await readBody(req);
  if (body === null) {
    res.writeHead(413, { 'content-type': 'text/plain' }).end('AdmissionReview too large\n');
    return;
  }
  let request: ReturnType<typeof parseAdmissionReview>;
  try {
    request = parseAdmissionReview(body);
  } catch (error) {
    const code = (error as ProvenanceProxyError).code;
    log.warn({ event: 'review_rejected', code, reason: (error as Error).message }, 'bad AdmissionReview');
    res.writeHead(400, { 'content-type': 'text/plain' }).end(`${(error as Error).message}\n`);
    return;
  }
  const decision =
    request.pod === null
      ? ({ kind: 'skip', reason: 'not-requested' } as const)
      : planInjection(request.pod, config.current, source);
  log.info(
    {
      event: 'admission',
      uid: request.uid,
      namespace: request.namespace,
      pod: request.pod?.metadata?.name ?? request.pod?.metadata?.generateName,
      via: source,
      decision: decision.kind,
      ...(decision.kind === 'skip' ? { reason: decision.reason } : {}),
      ...(decision.kind === 'deny' ? { reason: decision.message } : {}),
    },
    `pod ${decision.kind}`,
  );
  const answer = JSON.stringify(admissionResponse(request.uid, decision));
  res.writeHead(200, { 'content-type': 'application/json' }).end(answer);
}

/**
 * The whole body, or null when it passes the limit. Past the limit the rest is read and
 * dropped rather than cut off, so the client gets the 413 instead of a reset; the server's
 * requestTimeout bounds how long that can take.
 */
function readBody(req: IncomingMessage): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_REVIEW_BYTES) chunks.push(chunk);
      else chunks.length = 0; // memory stays bounded whatever is sent
    });
    req.on('end', () => resolve(size > MAX_REVIEW_BYTES ? null : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
