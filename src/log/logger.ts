import pino, { type Logger } from 'pino';

/**
 * Paths pino blanks wherever they appear in a log object. The proxy never
 * logs raw header objects on purpose; this is the second line of defence.
 */
const REDACT_PATHS = [
  'authorization',
  'proxyAuthorization',
  'cookie',
  'setCookie',
  '*.authorization',
  '*.proxy-authorization',
  '*.cookie',
  '*.set-cookie',
  '*.*.authorization',
  '*.*.proxy-authorization',
  '*.*.cookie',
  '*.*.set-cookie',
  'token',
  '*.token',
  'password',
  '*.password',
  'privateKey',
  '*.privateKey',
];

export function createLogger(level: string, destination: NodeJS.WritableStream = process.stdout): Logger {
  return pino(
    {
      level,
      base: { service: 'provenance-proxy' },
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination as pino.DestinationStream,
  );
}

export { redactUrl } from './redact-url.js';
export type { Logger };
