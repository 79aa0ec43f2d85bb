import { ERROR_CODES, type ErrorCode } from './error-codes.js';

/**
 * Every error the proxy raises on purpose, with a stable `code` from the one catalogue
 * (`error-codes.ts`) and a `retryable` decision: whether trying the same thing again may succeed.
 * `retryable` is the code's default unless the place that makes the error knows better (an HTTP
 * answer's status, an errno), so retry loops ask the error, never its fields' shapes.
 *
 * Codes are part of the interface: they appear in logs, in metrics labels
 * (`cause`) and in the bodies of 4xx/5xx answers the proxy writes itself, so
 * operators can alert on them. Never reuse or rename a code; add new ones.
 */
export class ProvenanceProxyError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retryable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = options?.retryable ?? ERROR_CODES[code].retryable;
    this.name = new.target.name;
  }
}

/**
 * Whether trying again may help, decided by the error's type: a ProvenanceProxyError says so
 * itself; anything else is an error nobody foresaw (a bug, a library's surprise), which retry loops
 * treat as transient (retried, and logged loudly) rather than as proof the work is impossible.
 */
export function isRetryable(error: unknown): boolean {
  return error instanceof ProvenanceProxyError ? error.retryable : true;
}

/** The command line is not one the command accepts; an empty message asks for the usage text alone. */
export class UsageError extends ProvenanceProxyError {
  constructor(
    message: string,
    code: Extract<ErrorCode, 'ERR_USAGE' | 'ERR_VERIFY_USAGE' | 'ERR_REPORT_USAGE'> = 'ERR_USAGE',
  ) {
    super(code, message);
  }
}

/** A start-up option is missing or breaks its rule. */
export class InvalidOptionError extends ProvenanceProxyError {
  readonly option: string;
  constructor(option: string, rule: string) {
    super('ERR_INVALID_OPTION', `invalid option ${option}: ${rule}`);
    this.option = option;
  }
}

/** Why an upstream connection or exchange failed: the `upstream_<cause>` failure code of an exchange. */
export type UpstreamFailureCause =
  | 'dns'
  | 'refused'
  | 'unreachable'
  | 'tls_untrusted'
  | 'tls_hostname'
  | 'tls_expired'
  | 'tls_other'
  | 'reset'
  | 'timeout'
  | 'protocol'
  | 'destination_refused'
  | 'other';

/** The certificate authority could not be loaded or minted. */
export class CertificateAuthorityError extends ProvenanceProxyError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_CA', message, options);
  }
}

/** The journal is unreadable, its hash chain is broken, or its last line is torn. */
export class JournalError extends ProvenanceProxyError {
  constructor(
    code: Extract<
      ErrorCode,
      'ERR_JOURNAL_CHAIN' | 'ERR_JOURNAL_TORN' | 'ERR_JOURNAL_IO' | 'ERR_JOURNAL_PARSE'
    >,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

/** Why the destination policy refuses an address (net/destination-policy.ts). */
export type DestinationRule = 'loopback' | 'link_local' | 'unspecified' | 'own_port';

/** The destination policy refused to connect: the address (after resolution) falls under `rule`. */
export class DestinationRefusedError extends ProvenanceProxyError {
  readonly rule: DestinationRule;
  readonly address: string;
  readonly port: number;
  constructor(rule: DestinationRule, address: string, port: number) {
    super(
      'ERR_DESTINATION_REFUSED',
      `destination ${address.includes(':') ? `[${address}]` : address}:${port} refused by rule ${rule}` +
        (rule === 'own_port'
          ? ' (the proxy does not connect to itself)'
          : ' (re-open a range with --allow-destination CIDR)'),
    );
    this.rule = rule;
    this.address = address;
    this.port = port;
  }
}
