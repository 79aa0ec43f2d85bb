import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { type RunningProxy, startProxy } from '../../../src/app/proxy-app.js';
import { parseRunOptions } from '../../../src/config/options.js';
import type {
  CompletedExchange,
  ExchangePlanner,
  TunnelRecord,
} from '../../../src/http/completed-exchange.js';
import { createLogger } from '../../../src/log/logger.js';
import { testPki } from '../../support/pki.js';
import { ALLOW_LOOPBACK_DESTINATIONS } from '../../support/proxy.js';
import { makeTempDirSync } from '../../support/temp-dir.js';

export interface TestProxy {
  readonly proxy: RunningProxy;
  readonly proxyUrl: string;
  readonly proxyPort: number;
  readonly controlUrl: string;
  readonly caPem: string;
  readonly caPath: string;
  readonly exchanges: CompletedExchange[];
  readonly tunnels: TunnelRecord[];
  /** Every log line the proxy wrote, as text. */
  readonly logLines: string[];
  /** A request to the control listener with the control token (`token: null` sends none). */
  control(
    path: string,
    init?: { method?: string; token?: string | null },
  ): Promise<{ status: number; body: string }>;
  /** Resolves with the first exchange (already seen or future) that matches. */
  exchange(match: (e: CompletedExchange) => boolean): Promise<CompletedExchange>;
  tunnel(match: (t: TunnelRecord) => boolean): Promise<TunnelRecord>;
  close(): Promise<void>;
}

/**
 * The real proxy, in-process, on free ports, with its stages replaced by
 * recorders so tests can wait on events instead of sleeping.
 */
export async function startTestProxy(
  extraArgs: string[] = [],
  planner: ExchangePlanner = () => ({
    captureRequestBytes: 4096,
    captureResponseBytes: 4096,
    continueRequestHash: null,
  }),
): Promise<TestProxy> {
  const dataDir = makeTempDirSync('data');
  const options = parseRunOptions(
    [
      '--listen',
      '127.0.0.1:0',
      '--control-listen',
      '127.0.0.1:0',
      '--data-dir',
      dataDir,
      '--upstream-ca',
      testPki().caPath,
      '--log-level',
      'debug',
      '--shutdown-grace',
      '2s',
      ...ALLOW_LOOPBACK_DESTINATIONS,
      ...extraArgs,
    ],
    {},
  );
  const logLines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logLines.push(
        ...chunk
          .toString()
          .split('\n')
          .filter((l: string) => l !== ''),
      );
      cb();
    },
  });
  const logger = createLogger('debug', sink);
  const exchanges: CompletedExchange[] = [];
  const tunnels: TunnelRecord[] = [];
  const exchangeWaiters: [(e: CompletedExchange) => boolean, (e: CompletedExchange) => void][] = [];
  const tunnelWaiters: [(t: TunnelRecord) => boolean, (t: TunnelRecord) => void][] = [];
  const proxy = await startProxy(options, logger, () => ({
    planner,
    onExchange: (e) => {
      exchanges.push(e);
      for (const [i, [match, resolve]] of exchangeWaiters.entries()) {
        if (match(e)) {
          exchangeWaiters.splice(i, 1);
          resolve(e);
          break;
        }
      }
    },
    onTunnel: (t) => {
      tunnels.push(t);
      for (const [i, [match, resolve]] of tunnelWaiters.entries()) {
        if (match(t)) {
          tunnelWaiters.splice(i, 1);
          resolve(t);
          break;
        }
      }
    },
  }));
  return {
    proxy,
    proxyUrl: `http://127.0.0.1:${proxy.proxyAddress.port}`,
    proxyPort: proxy.proxyAddress.port,
    controlUrl: `http://127.0.0.1:${proxy.controlAddress.port}`,
    caPem: proxy.ca.certPem,
    caPath: options.caCertOut!,
    exchanges,
    tunnels,
    logLines,
    async control(path, init = {}) {
      const token =
        init.token === undefined ? readFileSync(proxy.controlTokenPath, 'utf8').trim() : init.token;
      const response = await fetch(`http://127.0.0.1:${proxy.controlAddress.port}${path}`, {
        method: init.method ?? 'GET',
        headers: token === null ? {} : { authorization: `Bearer ${token}` },
      });
      return { status: response.status, body: await response.text() };
    },
    exchange: (match) => {
      const seen = exchanges.find(match);
      return seen ? Promise.resolve(seen) : new Promise((resolve) => exchangeWaiters.push([match, resolve]));
    },
    tunnel: (match) => {
      const seen = tunnels.find(match);
      return seen ? Promise.resolve(seen) : new Promise((resolve) => tunnelWaiters.push([match, resolve]));
    },
    close: async () => {
      await proxy.shutdown(2000);
    },
  };
}
