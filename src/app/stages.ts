import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { RunOptions } from '../config/options.js';
import type { ControlServer } from '../control/control-server.js';
import { NO_PLAN } from '../http/completed-exchange.js';
import { redactUrl } from '../log/logger.js';
import type { ExchangeStages } from './proxy-app.js';

/**
 * Wires the stages after the hot path: exchanges in, observations out.
 * For now every exchange is logged at debug level; the OCI interpreter, the
 * journal and the reporters plug in here.
 */
export function buildStages(
  _options: RunOptions,
  logger: Logger,
  _ctx: { registry: Registry; control: ControlServer },
): ExchangeStages {
  return {
    planner: () => NO_PLAN,
    onExchange: (exchange) => {
      logger.debug(
        {
          exchange: exchange.id,
          authority: exchange.authority,
          method: exchange.method,
          target: redactUrl(exchange.target),
          status: exchange.status,
          requestBytes: exchange.request.size,
          responseBytes: exchange.response.size,
          failure: exchange.failure?.code,
        },
        'exchange',
      );
    },
    onTunnel: (record) => {
      logger.info(
        {
          authority: record.authority,
          bytesIn: record.bytesFromClient,
          bytesOut: record.bytesFromUpstream,
          failure: record.failure?.code,
        },
        'unobserved tunnel closed',
      );
    },
  };
}
