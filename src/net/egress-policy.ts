import { type HostPattern, matchesAny } from '../config/host-pattern.js';
import type { EgressAttempt, EgressCapture, EgressPolicyMode } from '../http/completed-exchange.js';

export type EgressVerdict = 'allow' | EgressAttempt['verdict'];

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
