import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { RunOptions } from '../config/options.js';
import type { ControlServer } from '../control/control-server.js';
import { loadUpstreamTrust } from '../tls/upstream-trust.js';
import { openBuildPipeline } from './build-pipeline.js';
import type { ExchangeStages } from './proxy-app.js';

/** The stages `run` plugs into the hot path. */
export function buildStages(
  options: RunOptions,
  logger: Logger,
  ctx: { registry: Registry; control: ControlServer },
): Promise<ExchangeStages> {
  // The Grafeas sink trusts what upstream TLS trusts beyond Node's roots (the --upstream-ca bundles).
  const extraCa = options.upstreamCa.length > 0 ? loadUpstreamTrust(options.upstreamCa) : [];
  return openBuildPipeline(options, logger, ctx, extraCa);
}
