import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';
import type { CaptureEvent } from '../capture/capture-verifier.js';
import type { RunOptions } from '../config/options.js';
import { type ControlServer, json } from '../control/control-server.js';
import type { EgressAttempt } from '../net/egress-policy.js';
import {
  CAPTURE_CHECK_KIND,
  CAPTURE_FORGED_KIND,
  CaptureRecord,
  type CaptureSummary,
} from '../provenance/capture-summary.js';
import {
  EGRESS_POLICY_KIND,
  EgressDecisions,
  type EgressDecisionsSummary,
  egressPolicyLine,
} from '../provenance/egress-decisions.js';
import { EGRESS_TOP_HOSTS, type EgressTally } from '../provenance/egress-summary.js';

/**
 * The egress policy's decisions and the capture checks, between the hot path and the statement:
 * journaled (so a restart replays them), tallied (bounded), served on `/v1/egress/…` and put in
 * the statement's egress summary.
 */
export interface EgressRecords {
  /** Applies a journal entry at start; false when the kind is not one of these. */
  replay(kind: string, data: unknown): boolean;
  onEgressDecision(attempt: EgressAttempt): void;
  onCaptureEvent(event: CaptureEvent): void;
  /** What the statement context carries. */
  context(): { capture: CaptureSummary; egressDecisions: EgressDecisionsSummary };
}

export function openEgressRecords(
  options: RunOptions,
  deps: {
    readonly egress: EgressTally;
    readonly control: ControlServer;
    readonly registry: Registry;
    readonly logger: Logger;
    /** The pipeline's journal append (it marks the journal unhealthy on failure). */
    readonly append: (kind: string, data: unknown) => Promise<void>;
  },
): EgressRecords {
  const decisions = new EgressDecisions(options.egressPolicy);
  const capture = new CaptureRecord(
    options.transparentListen ? 'transparent' : 'explicit',
    options.captureCheckIntervalMs,
  );
  const addDecision = (data: unknown) => {
    decisions.addJournaled(data);
    if ((data as { verdict?: unknown } | null)?.verdict === 'refuse') deps.egress.addBlocked();
  };
  new Gauge({
    name: 'provenance_proxy_capture_egress_complete',
    help: '1 while the statement claims the observed egress complete (transparent capture, every canary check passed); 0 otherwise',
    registers: [deps.registry],
    collect() {
      this.set(capture.egressComplete ? 1 : 0);
    },
  });
  const read = { access: 'read' } as const;
  deps.control.route(
    'GET',
    '/v1/egress/decisions',
    (_req, res) =>
      json(res, 200, {
        allow: options.egressAllow.map((p) => p.source),
        ...decisions.summary(Number.POSITIVE_INFINITY),
      }),
    read,
  );
  deps.control.route('GET', '/v1/egress/capture', (_req, res) => json(res, 200, capture.summary()), read);

  return {
    replay(kind, data) {
      if (kind === EGRESS_POLICY_KIND) addDecision(data);
      else if (kind === CAPTURE_CHECK_KIND) capture.addJournaledCheck(data);
      else if (kind === CAPTURE_FORGED_KIND) capture.addForged(data);
      else return false;
      return true;
    },
    // Journaled first, visible after, like every observation (a failed append still shows it).
    onEgressDecision(attempt) {
      const line = egressPolicyLine(attempt);
      void deps.append(EGRESS_POLICY_KIND, line).then(() => addDecision(line));
    },
    onCaptureEvent(event) {
      if (event.type === 'check') {
        const { type: _type, ...check } = event;
        void deps.append(CAPTURE_CHECK_KIND, check).then(() => capture.addCheck(check));
      } else {
        const { type: _type, ...forged } = event;
        void deps.append(CAPTURE_FORGED_KIND, forged).then(() => capture.addForged(forged));
      }
    },
    context: () => ({ capture: capture.summary(), egressDecisions: decisions.summary(EGRESS_TOP_HOSTS) }),
  };
}
