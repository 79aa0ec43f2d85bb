import type { UpstreamFailureCause } from '../errors.js';
import { rawAnswer } from './raw-answer.js';

/** Maps Node/OpenSSL error codes to the stable causes used in metrics, logs and 502 bodies. */
export function classifyUpstreamError(error: NodeJS.ErrnoException): UpstreamFailureCause {
  const code = error.code ?? '';
  switch (code) {
    case 'ERR_DESTINATION_REFUSED':
      return 'destination_refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
      return 'dns';
    case 'ECONNREFUSED':
      return 'refused';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'unreachable';
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ECONNABORTED':
      return 'reset';
    case 'ETIMEDOUT':
    case 'ESOCKETTIMEDOUT':
      return 'timeout';
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'CERT_UNTRUSTED':
    case 'CERT_SIGNATURE_FAILURE':
      return 'tls_untrusted';
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return 'tls_hostname';
    case 'CERT_HAS_EXPIRED':
    case 'CERT_NOT_YET_VALID':
      return 'tls_expired';
    case 'HPE_INVALID_CONSTANT':
    case 'HPE_INVALID_HEADER_TOKEN':
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
      return 'protocol';
    default:
      if (code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL') || /SSL|TLS|CERT/.test(code))
        return 'tls_other';
      if (code.startsWith('HPE_')) return 'protocol';
      return 'other';
  }
}

const EXPLANATIONS: Record<UpstreamFailureCause, string> = {
  dns: 'the upstream host name does not resolve',
  refused: 'the upstream refused the connection',
  unreachable: 'the upstream network is unreachable',
  reset: 'the upstream reset the connection',
  timeout: 'the upstream did not answer in time',
  tls_untrusted:
    'upstream TLS verification failed: the certificate is not signed by a trusted CA (add the CA with --upstream-ca)',
  tls_hostname: 'upstream TLS verification failed: the certificate does not name this host',
  tls_expired: 'upstream TLS verification failed: the certificate is expired or not yet valid',
  tls_other: 'the upstream TLS handshake failed',
  protocol: 'the upstream sent a malformed HTTP response',
  destination_refused: 'the destination policy refuses this address',
  other: 'the upstream request failed',
};

export function explainUpstreamFailure(cause: UpstreamFailureCause, authority: string, error: Error): string {
  // The refusal's own message names the rule and the address the name resolved to.
  if (cause === 'destination_refused') return `provenance-proxy: ${authority}: ${error.message}\n`;
  const code = (error as NodeJS.ErrnoException).code;
  return `provenance-proxy: ${EXPLANATIONS[cause]} (${authority}${code ? `: ${code}` : ''})\n`;
}

export function isTlsFailure(cause: UpstreamFailureCause): boolean {
  return cause.startsWith('tls_');
}

/** The status the proxy answers a failed upstream with: 403 for a policy refusal, 502 for the rest. */
export function upstreamFailureStatus(cause: UpstreamFailureCause): 403 | 502 {
  return cause === 'destination_refused' ? 403 : 502;
}

/** `x-provenance-proxy-error` for a failed upstream; a refusal has the same code whichever path refused it. */
export function upstreamFailureCode(cause: UpstreamFailureCause): string {
  return cause === 'destination_refused' ? 'destination_refused' : `upstream_${cause}`;
}

/** The whole answer, for paths that write to a raw socket (CONNECT, upgrades): status, error code, body. */
export function rawFailureAnswer(cause: UpstreamFailureCause, body: string): Buffer {
  return rawAnswer(upstreamFailureStatus(cause), {
    headers: { 'Content-Type': 'text/plain', 'x-provenance-proxy-error': upstreamFailureCode(cause) },
    body,
  });
}
