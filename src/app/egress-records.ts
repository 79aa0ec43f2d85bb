import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';
import type { CaptureEvent } from '../capture/capture-verifier.js';
import type { RunOptions } from '../config/options.js';
import { type ControlServer, json } from '../control/control-server.js';
import type { EgressAttempt } from '../http/completed-exchange.js';
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
import type { ObservationData, ObservationRecord } from './observation-records.js';

/** The observation kinds this stage owns. */
export type EgressRecordKind =
  | typeof EGRESS_POLICY_KIND
  | typeof CAPTURE_CHECK_KIND
  | typeof CAPTURE_FORGED_KIND;
type EgressRecord = Extract<ObservationRecord, { kind: EgressRecordKind }>;

/**
 * The egress policy's decisions and the capture checks, between the hot path and the statement:
 * journaled (so a restart replays them), tallied (bounded), served on `/v1/egress/…` and put in
 * the statement's egress summary.
 */
export interface EgressRecords {
  /** Applies a journaled record at start (the replay stage reads and types it). */
  replay(record: EgressRecord): void;
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
    /** The recorder's journal append (it marks the journal unhealthy on failure). */
    readonly append: <K extends EgressRecordKind>(kind: K, data: ObservationData[K]) => Promise<void>;
  },
): EgressRecords {
  const decisions = new EgressDecisions(options.egressPolicy);
  const capture = new CaptureRecord(
    options.transparentListen ? 'transparent' : 'explicit',
    options.captureCheckIntervalMs,
  );
  const addDecision = (attempt: EgressAttempt) => {
    decisions.add(attempt);
    if (attempt.verdict === 'refuse') deps.egress.addBlocked();
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
    replay(record) {
      if (record.kind === EGRESS_POLICY_KIND) addDecision(record.data);
      else if (record.kind === CAPTURE_CHECK_KIND) capture.addCheck(record.data);
      else capture.addForged(record.data);
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
