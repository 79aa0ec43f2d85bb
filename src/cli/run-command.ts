import { mkdirSync } from 'node:fs';
import { startProxy } from '../app/proxy-app.js';
import { buildStages } from '../app/stages.js';
import { parseRunOptions, runHelp } from '../config/options.js';
import { createLogger } from '../log/logger.js';

export async function runCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(runHelp());
    return 0;
  }
  const options = parseRunOptions(argv, process.env);
  const logger = createLogger(options.logLevel);
  mkdirSync(options.dataDir, { recursive: true });
  const proxy = await startProxy(options, logger, (ctx) => buildStages(options, logger, ctx));
  const proxyUrl = `http://${formatHost(proxy.proxyAddress.address)}:${proxy.proxyAddress.port}`;
  const controlUrl = `http://${formatHost(proxy.controlAddress.address)}:${proxy.controlAddress.port}`;
  logger.info(
    {
      proxy: proxyUrl,
      control: controlUrl,
      caCert: proxy.caCertPath,
      controlTokenFile: proxy.controlTokenPath,
    },
    'provenance-proxy listening',
  );
  // The human-readable start banner goes to stderr so stdout stays pure JSON logs.
  process.stderr.write(
    `provenance-proxy listening on ${proxyUrl} (control ${controlUrl})\n` +
      `CA certificate: ${proxy.caCertPath ?? `${controlUrl}/ca.pem`}\n` +
      `try: curl --proxy ${proxyUrl} --cacert ${proxy.caCertPath ?? 'ca.pem'} https://example.com/\n` +
      `control token: ${proxy.controlTokenPath}${proxy.controlTokenGenerated ? ' (generated for this run)' : ''}\n` +
      `read: curl -H "Authorization: Bearer $(cat ${proxy.controlTokenPath})" ${controlUrl}/v1/images\n`,
  );
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      // shutdown() stops accepting synchronously, before its first await: log after it, so
      // the line means what it says.
      const shutdown = proxy.shutdown(options.shutdownGraceMs);
      logger.info(
        { signal, graceMs: options.shutdownGraceMs },
        'shutting down: no new connections, draining in-flight exchanges',
      );
      shutdown.then(
        ({ drained }) => {
          logger.info({ drained }, drained ? 'shut down cleanly' : 'shut down at the grace deadline');
          logger.flush?.();
          resolve(0);
        },
        (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

function formatHost(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}
