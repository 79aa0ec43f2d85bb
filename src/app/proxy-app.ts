import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { captureRuleSet, resolversOf } from '../capture/capture-rules.js';
import { type CaptureEvent, CaptureVerifier } from '../capture/capture-verifier.js';
import type { RunOptions } from '../config/options.js';
import { ControlServer } from '../control/control-server.js';
import { loadControlReadToken, loadOrCreateControlToken } from '../control/control-token.js';
import { InvalidOptionError } from '../errors.js';
import { CaptureBudget } from '../http/capture-budget.js';
import {
  type EgressAttempt,
  type ExchangePlanner,
  type ExchangeSink,
  NO_PLAN,
  type TunnelRecord,
  type UpstreamHeadersHook,
} from '../http/completed-exchange.js';
import { ExchangeForwarder } from '../http/exchange-forwarder.js';
import { createUpstreamAgents } from '../http/upstream-agents.js';
import { ProxyMetrics } from '../metrics/proxy-metrics.js';
import { DestinationPolicy, type DestinationRefusal } from '../net/destination-policy.js';
import { EgressPolicy } from '../net/egress-policy.js';
import { ProxyListener } from '../net/proxy-listener.js';
import { TransparentListener } from '../net/transparent-listener.js';
import { CertificateAuthority } from '../tls/certificate-authority.js';
import { LeafCache } from '../tls/leaf-cache.js';
import { loadUpstreamTrust, systemBundleText } from '../tls/upstream-trust.js';
import { acquireDataDirLock, type DataDirLock } from './data-dir-lock.js';

/** What later stages plug into the hot path. The proxy knows them only by these three functions. */
export interface ExchangeStages {
  readonly planner: ExchangePlanner;
  readonly onExchange: ExchangeSink;
  readonly onTunnel: (record: TunnelRecord) => void;
  /** A connection the destination policy refused (journaled, counted in the statement's egress). */
  readonly onRefusedDestination?: (refusal: DestinationRefusal) => void;
  /** An attempt the egress policy flagged or refused (journaled, listed in the statement). */
  readonly onEgressDecision?: (attempt: EgressAttempt) => void;
  /** A capture check's result, or a connection posing as the canary (journaled; the completeness claim). */
  readonly onCaptureEvent?: (event: CaptureEvent) => void;
  /** false when a later stage can no longer do its job (e.g. the journal failed); /readyz says so. */
  readonly isHealthy?: () => boolean;
  /** Lines /readyz adds without turning unready (reports failing auth). */
  readonly readyDetails?: () => readonly string[];
  /**
   * Called at shutdown as soon as new connections stop, before exchanges drain: reports the build
   * as recorded so far, so a request held open (or a kubelet with a shorter grace) cannot keep
   * the statement from leaving. `close` reports again if the drained exchanges added to it.
   */
  readonly seal?: () => Promise<void>;
  /** Credentials presented upstream in the client's place (the registry credential broker). */
  readonly upstreamHeaders?: UpstreamHeadersHook;
  /** Called at shutdown once exchanges have drained: finalize, flush, close files. */
  readonly close?: (graceMs: number) => Promise<void>;
}

export interface RunningProxy {
  readonly proxyAddress: AddressInfo;
  readonly controlAddress: AddressInfo;
  readonly transparentAddress: AddressInfo | null;
  readonly caCertPath: string | null;
  readonly ca: CertificateAuthority;
  readonly registry: Registry;
  readonly control: ControlServer;
  /** The file holding the control token every /v1 request needs (generated in the data dir when not given). */
  readonly controlTokenPath: string;
  readonly controlTokenGenerated: boolean;
  /** SIGTERM path: stop accepting, let exchanges finish up to the grace period, then close everything. */
  shutdown(graceMs: number): Promise<{ drained: boolean }>;
}

type StagesFactory = (ctx: {
  registry: Registry;
  control: ControlServer;
}) => ExchangeStages | Promise<ExchangeStages>;

/**
 * Composition root of the hot path: CA → leaf cache → upstream trust →
 * forwarder → listener, plus the control server. Everything is validated and
 * built before the first socket is accepted.
 */
export async function startProxy(
  options: RunOptions,
  logger: Logger,
  buildStages: StagesFactory = () => ({
    planner: () => NO_PLAN,
    onExchange: () => {},
    onTunnel: () => {},
  }),
): Promise<RunningProxy> {
  // Before anything reads or writes the data directory: two proxies on one journal break its chain.
  const lock = acquireDataDirLock(options.dataDir);
  try {
    return await startLocked(options, logger, buildStages, lock);
  } catch (error) {
    lock.release();
    throw error;
  }
}

async function startLocked(
  options: RunOptions,
  logger: Logger,
  buildStages: StagesFactory,
  lock: DataDirLock,
): Promise<RunningProxy> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'provenance_proxy_' });
  const metrics = new ProxyMetrics(registry);
  const trustedRoots = loadUpstreamTrust(options.upstreamCa);
  const ca = await loadOrMintCa(options);
  let ready = false;
  const controlToken = loadOrCreateControlToken(options.controlTokenFile, options.dataDir);
  const control = new ControlServer({
    host: options.controlListen.host,
    port: options.controlListen.port,
    registry,
    caCertPem: () => ca.certPem,
    isReady: () => ready && listener.listening && (stages.isHealthy?.() ?? true),
    readyDetails: () => stages.readyDetails?.() ?? [],
    controlToken: controlToken.token,
    readToken: loadControlReadToken(options.controlReadTokenFile, controlToken.token),
    logger,
  });
  const stages = await buildStages({ registry, control });
  const leaves = new LeafCache(ca, {
    maxEntries: options.leafCacheSize,
    ttlMs: 12 * 3600_000,
    onLookup: (result) => metrics.leafCache.inc({ result }),
  });
  const destinations = new DestinationPolicy({
    allow: options.allowDestination,
    onRefused: (refusal) => {
      metrics.destinationsRefused.inc({ rule: refusal.rule });
      stages.onRefusedDestination?.(refusal);
    },
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
    lookupFor: (port) => destinations.lookupFor(port),
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
    egressPolicy: new EgressPolicy(options.egressPolicy, options.egressAllow, (attempt) => {
      metrics.egressPolicyDecisions.inc({ verdict: attempt.verdict, captured_by: attempt.capturedBy });
      logger.warn(
        { egress: attempt },
        `egress outside --egress-allow ${attempt.verdict === 'refuse' ? 'refused' : 'flagged'}`,
      );
      stages.onEgressDecision?.(attempt);
    }),
    forwarder,
    leaves,
    metrics,
    logger,
    onTunnel: stages.onTunnel,
    destinations,
  });

  const ownPorts: number[] = [];
  const transparent = options.transparentListen
    ? new TransparentListener({
        host: options.transparentListen.host,
        port: options.transparentListen.port,
        accept: (client, destination) => listener.acceptTransparent(client, destination),
        ownPorts: () => ownPorts,
        metrics,
        logger,
        canary: () => verifier,
      })
    : null;
  let verifier: CaptureVerifier | null = null;

  if (options.caCertOut) writePublic(options.caCertOut, ca.certPem);
  // SSL_CERT_FILE replaces a client's roots (Go, OpenSSL): give build containers a bundle
  // that still trusts the public internet for tunnelled hosts, plus the pod CA.
  if (options.caBundleOut) writePublic(options.caBundleOut, `${systemBundleText()}\n${ca.certPem}`);
  const controlAddress = await control.listen();
  const proxyAddress = await listener.listen();
  // Bound ports are known only now (port 0 picks one); no connection is handled before this
  // line runs, as there is no await between listening and here.
  destinations.protectOwnPorts(
    [proxyAddress.port, controlAddress.port],
    [proxyAddress.address, controlAddress.address],
  );
  const transparentAddress = transparent ? await transparent.listen() : null;
  if (transparentAddress) {
    // Again with the transparent port: until it listens, nothing can arrive on it.
    destinations.protectOwnPorts(
      [proxyAddress.port, controlAddress.port, transparentAddress.port],
      [proxyAddress.address, controlAddress.address, transparentAddress.address],
    );
  }
  ownPorts.push(
    controlAddress.port,
    proxyAddress.port,
    ...(transparentAddress ? [transparentAddress.port] : []),
  );
  // 0s turns the checks off: no canary leaves (a bench or a host without the rules), and no claim.
  if (transparentAddress && options.captureCheckIntervalMs > 0) {
    verifier = startCaptureVerifier(options, transparentAddress.port, stages, logger);
    // Before ready: build containers start after the first check, so it covers the whole build.
    await verifier.check();
    verifier.start();
  }
  ready = true;

  return {
    proxyAddress,
    controlAddress,
    transparentAddress,
    caCertPath: options.caCertOut,
    ca,
    registry,
    control,
    controlTokenPath: controlToken.path,
    controlTokenGenerated: controlToken.generated,
    async shutdown(graceMs: number) {
      const deadlineAt = Date.now() + graceMs;
      ready = false;
      verifier?.stop();
      const stopped = Promise.all([listener.stopAccepting(), transparent?.stopAccepting()]);
      const sealed = (stages.seal?.() ?? Promise.resolve()).catch((error: unknown) => {
        logger.error({ err: error }, 'could not seal the build statement at shutdown');
      });
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
        await sealed;
        // What is left of the grace period goes to finalizing and flushing reports.
        await stages.close?.(Math.max(0, deadlineAt - Date.now()));
      } finally {
        await control.close();
        lock.release();
      }
      return { drained: outcome === 'idle' };
    },
  };
}

/**
 * The rule set `capture-rules` applied for this proxy, computed the same way (its UID, its
 * transparent port, the pod's resolvers): its hash is what the statement names, its canary
 * destination what the checks connect to.
 */
function startCaptureVerifier(
  options: RunOptions,
  transparentPort: number,
  stages: ExchangeStages,
  logger: Logger,
): CaptureVerifier {
  let resolvConf = '';
  try {
    resolvConf = readFileSync(options.captureResolvConf, 'utf8');
  } catch (error) {
    // The rule set then names no resolver: unless capture-rules saw none either, checks fail.
    logger.error(
      { err: error, path: options.captureResolvConf },
      'cannot read the resolv.conf of the capture rules',
    );
  }
  const rules = captureRuleSet({
    proxyUid: process.getuid?.() ?? -1,
    transparentPort,
    resolvers: resolversOf(resolvConf),
  });
  return new CaptureVerifier({
    ruleSetHash: rules.hash,
    canary: rules.canary,
    intervalMs: options.captureCheckIntervalMs,
    timeoutMs: 3_000,
    onEvent: (event) => stages.onCaptureEvent?.(event),
    logger,
  });
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
