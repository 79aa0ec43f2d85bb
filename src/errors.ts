/**
 * Every error the proxy raises on purpose, with a stable `code`.
 *
 * Codes are part of the interface: they appear in logs, in metrics labels
 * (`cause`) and in the bodies of 4xx/5xx answers the proxy writes itself, so
 * operators can alert on them. Never reuse or rename a code; add new ones.
 */
export class ProvenanceProxyError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
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
    code: 'ERR_JOURNAL_CHAIN' | 'ERR_JOURNAL_TORN' | 'ERR_JOURNAL_IO' | 'ERR_JOURNAL_PARSE',
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
