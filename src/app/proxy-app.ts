import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { RunOptions } from '../config/options.js';
import { ControlServer } from '../control/control-server.js';
import { InvalidOptionError } from '../errors.js';
import { CaptureBudget } from '../http/capture-budget.js';
import {
  type ExchangePlanner,
  type ExchangeSink,
  NO_PLAN,
  type TunnelRecord,
  type UpstreamHeadersHook,
} from '../http/completed-exchange.js';
import { ExchangeForwarder } from '../http/exchange-forwarder.js';
import { createUpstreamAgents } from '../http/upstream-agents.js';
import { ProxyMetrics } from '../metrics/proxy-metrics.js';
import { ProxyListener } from '../net/proxy-listener.js';
import { CertificateAuthority } from '../tls/certificate-authority.js';
import { LeafCache } from '../tls/leaf-cache.js';
import { loadUpstreamTrust, systemBundleText } from '../tls/upstream-trust.js';

/** What later stages plug into the hot path. The proxy knows them only by these three functions. */
export interface ExchangeStages {
  readonly planner: ExchangePlanner;
  readonly onExchange: ExchangeSink;
  readonly onTunnel: (record: TunnelRecord) => void;
  /** false when a later stage can no longer do its job (e.g. the journal failed); /readyz says so. */
  readonly isHealthy?: () => boolean;
  /** Lines /readyz adds without turning unready (reports failing auth). */
  readonly readyDetails?: () => readonly string[];
  /** Credentials presented upstream in the client's place (the registry credential broker). */
  readonly upstreamHeaders?: UpstreamHeadersHook;
  /** Called at shutdown once exchanges have drained: finalize, flush, close files. */
  readonly close?: (graceMs: number) => Promise<void>;
}

export interface RunningProxy {
  readonly proxyAddress: AddressInfo;
  readonly controlAddress: AddressInfo;
  readonly caCertPath: string | null;
  readonly ca: CertificateAuthority;
  readonly registry: Registry;
  readonly control: ControlServer;
  /** SIGTERM path: stop accepting, let exchanges finish up to the grace period, then close everything. */
  shutdown(graceMs: number): Promise<{ drained: boolean }>;
}

/**
 * Composition root of the hot path: CA → leaf cache → upstream trust →
 * forwarder → listener, plus the control server. Everything is validated and
 * built before the first socket is accepted.
 */
export async function startProxy(
  options: RunOptions,
  logger: Logger,
  buildStages: (ctx: {
    registry: Registry;
    control: ControlServer;
  }) => ExchangeStages | Promise<ExchangeStages> = () => ({
    planner: () => NO_PLAN,
    onExchange: () => {},
    onTunnel: () => {},
  }),
): Promise<RunningProxy> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'provenance_proxy_' });
  const metrics = new ProxyMetrics(registry);
  const trustedRoots = loadUpstreamTrust(options.upstreamCa);
  const ca = await loadOrMintCa(options);
  let ready = false;
  const controlToken = options.controlTokenFile ? readToken(options.controlTokenFile) : null;
  const control = new ControlServer({
    host: options.controlListen.host,
    port: options.controlListen.port,
    registry,
    caCertPem: () => ca.certPem,
    isReady: () => ready && listener.listening && (stages.isHealthy?.() ?? true),
    readyDetails: () => stages.readyDetails?.() ?? [],
    controlToken,
    logger,
  });
  const stages = await buildStages({ registry, control });
  const leaves = new LeafCache(ca, {
    maxEntries: options.leafCacheSize,
    ttlMs: 12 * 3600_000,
    onLookup: (result) => metrics.leafCache.inc({ result }),
  });
  const { httpsAgent, httpAgent, secureContext } = createUpstreamAgents(trustedRoots, metrics);
  const captureBudget = new CaptureBudget(options.maxCaptureBytesTotal, () =>
    metrics.captureBudgetExceeded.inc(),
  );
  metrics.capturedBytesSource = () => captureBudget.inUse;
  const forwarder = new ExchangeForwarder({
    captureBudget,
    httpsAgent,
    httpAgent,
    upstreamSecureContext: secureContext,
    planner: stages.planner,
    sink: stages.onExchange,
    onTunnel: stages.onTunnel,
    metrics,
    logger,
    answerWaitMs: options.upstreamAnswerWaitMs,
    ...(stages.upstreamHeaders === undefined ? {} : { upstreamHeaders: stages.upstreamHeaders }),
  });
  const listener = new ProxyListener({
    host: options.listen.host,
    port: options.listen.port,
    intercept: options.intercept,
    tunnel: options.tunnel,
    headersTimeoutMs: options.headersTimeoutMs,
    idleTimeoutMs: options.idleTimeoutMs,
    maxConnections: options.maxConnections,
    forwarder,
    leaves,
    metrics,
    logger,
    onTunnel: stages.onTunnel,
  });

  if (options.caCertOut) writePublic(options.caCertOut, ca.certPem);
  // SSL_CERT_FILE replaces a client's roots (Go, OpenSSL): give build containers a bundle
  // that still trusts the public internet for tunnelled hosts, plus the pod CA.
  if (options.caBundleOut) writePublic(options.caBundleOut, `${systemBundleText()}\n${ca.certPem}`);
  const controlAddress = await control.listen();
  const proxyAddress = await listener.listen();
  ready = true;

  return {
    proxyAddress,
    controlAddress,
    caCertPath: options.caCertOut,
    ca,
    registry,
    control,
    async shutdown(graceMs: number) {
      const deadlineAt = Date.now() + graceMs;
      ready = false;
      const stopped = listener.stopAccepting();
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<'deadline'>((resolve) => {
        timer = setTimeout(() => resolve('deadline'), graceMs);
      });
      const outcome = await Promise.race([forwarder.idle().then(() => 'idle' as const), deadline]);
      clearTimeout(timer);
      listener.destroyAll();
      await stopped;
      httpsAgent.destroy();
      httpAgent.destroy();
      try {
        // What is left of the grace period goes to finalizing and flushing reports.
        await stages.close?.(Math.max(0, deadlineAt - Date.now()));
      } finally {
        await control.close();
      }
      return { drained: outcome === 'idle' };
    },
  };
}

function writePublic(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(`${path}.tmp`, text, { mode: 0o644 });
  renameSync(`${path}.tmp`, path);
}

async function loadOrMintCa(options: RunOptions): Promise<CertificateAuthority> {
  if (options.caCert && options.caKey) {
    const read = (path: string, option: string) => {
      try {
        return readFileSync(path, 'utf8');
      } catch (error) {
        throw new InvalidOptionError(option, `cannot read ${path}: ${(error as Error).message}`);
      }
    };
    return CertificateAuthority.fromPem(read(options.caCert, '--ca-cert'), read(options.caKey, '--ca-key'));
  }
  return CertificateAuthority.mint();
}

export function readToken(path: string): string {
  let token: string;
  try {
    token = readFileSync(path, 'utf8').trim();
  } catch (error) {
    throw new InvalidOptionError('--control-token-file', `cannot read ${path}: ${(error as Error).message}`);
  }
  if (token.length < 16)
    throw new InvalidOptionError('--control-token-file', 'the token must be at least 16 characters');
  return token;
}
