import { type HostPattern, matchesAny } from '../config/host-pattern.js';

export type EgressPolicyMode = 'open' | 'audit' | 'enforce';
export type EgressVerdict = 'allow' | 'flag' | 'refuse';

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

  decide(hostname: string, port: number, capturedBy: 'explicit' | 'transparent'): EgressVerdict {
    if (this.mode === 'open' || matchesAny(this.allow, hostname, port)) return 'allow';
    const verdict: EgressVerdict = this.mode === 'enforce' ? 'refuse' : 'flag';
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

export interface EgressAttempt {
  readonly at: number;
  readonly hostname: string;
  readonly port: number;
  readonly capturedBy: 'explicit' | 'transparent';
  readonly verdict: EgressVerdict;
  readonly rule: string;
}
