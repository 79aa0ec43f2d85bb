import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { openRegistryAccess } from '../broker/open-broker.js';
import type { RunOptions } from '../config/options.js';
import type { ControlServer } from '../control/control-server.js';
import { loadUpstreamTrust } from '../tls/upstream-trust.js';
import { openBuildPipeline } from './build-pipeline.js';
import type { ExchangeStages } from './proxy-app.js';

/** The stages `run` plugs into the hot path. */
export async function buildStages(
  options: RunOptions,
  logger: Logger,
  ctx: { registry: Registry; control: ControlServer },
): Promise<ExchangeStages> {
  // The Grafeas sink trusts what upstream TLS trusts beyond Node's roots (the --upstream-ca bundles).
  const extraCa = options.upstreamCa.length > 0 ? loadUpstreamTrust(options.upstreamCa) : [];
  // Read first: an unusable credentials file stops the start before anything is opened.
  const access =
    options.registryAuth === null && !options.attachAttestations
      ? null
      : openRegistryAccess(options.registryAuth, loadUpstreamTrust(options.upstreamCa), logger);
  const stages = await openBuildPipeline(options, logger, ctx, extraCa, access);
  if (access === null) return stages;
  return {
    ...stages,
    ...(access.broker === null ? {} : { upstreamHeaders: access.broker.hook }),
    close: async (graceMs) => {
      await stages.close?.(graceMs);
      access.close();
    },
  };
}
