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

/** Query parameter names that carry credentials in the wild (OAuth, S3/GCS/Azure signed URLs, registries). */
const SECRET_QUERY =
  /^(access_token|token|refresh_token|id_token|code|password|passwd|secret|client_secret|key|api[-_]?key|sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|x-goog-credential|_state|state|auth|credential)$/i;

/**
 * A request target or URL fit for logs and records: values of credential-like
 * query parameters are replaced, everything else is kept so an operator can
 * still tell requests apart.
 */
export function redactUrl(target: string): string {
  const q = target.indexOf('?');
  if (q < 0) return target;
  const hash = target.indexOf('#', q);
  const query = target.slice(q + 1, hash < 0 ? undefined : hash);
  const redacted = query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq < 0 ? pair : pair.slice(0, eq);
      let decoded = name;
      try {
        decoded = decodeURIComponent(name);
      } catch {
        /* keep the raw name */
      }
      return eq >= 0 && SECRET_QUERY.test(decoded) ? `${name}=REDACTED` : pair;
    })
    .join('&');
  return `${target.slice(0, q)}?${redacted}`;
}

export type { Logger };
