import { type HostPattern, matchesAny } from '../config/host-pattern.js';

export type EgressPolicyMode = 'open' | 'audit' | 'enforce';
export type EgressVerdict = 'allow' | 'flag' | 'refuse';
/**
 * How the attempt reached the proxy: an absolute-form request or a CONNECT on the proxy port,
 * or a connection netfilter redirected, judged by its TLS SNI, its HTTP Host, or (neither) its
 * original destination address.
 */
export type EgressCapture =
  | 'explicit'
  | 'connect'
  | 'transparent-tls'
  | 'transparent-http'
  | 'transparent-blind';

/**
 * Decides on a destination (host or SNI name, port) before any byte goes upstream, the same
 * way for CONNECT, absolute-form HTTP and transparent connections. Pure: the callers answer
 * (403 or close) and count; `onDecision` sees every flagged or refused attempt.
 */
export class EgressPolicy {
  constructor(
    readonly mode: EgressPolicyMode,
    readonly allow: readonly HostPattern[],
    private readonly onDecision: (attempt: EgressAttempt) => void = () => {},
  ) {}

  decide(hostname: string, port: number, capturedBy: EgressCapture): EgressVerdict {
    if (this.mode === 'open' || matchesAny(this.allow, hostname, port)) return 'allow';
    const verdict: EgressAttempt['verdict'] = this.mode === 'enforce' ? 'refuse' : 'flag';
    this.onDecision({
      at: Date.now(),
      hostname,
      port,
      capturedBy,
      verdict,
      rule: `egress-policy=${this.mode}`,
    });
    return verdict;
  }
}

/** One flagged or refused attempt: journaled as `egress.policy`, counted, listed in the statement. */
export interface EgressAttempt {
  readonly at: number;
  readonly hostname: string;
  readonly port: number;
  readonly capturedBy: EgressCapture;
  readonly verdict: Exclude<EgressVerdict, 'allow'>;
  readonly rule: string;
}
