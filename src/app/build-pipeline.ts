import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { RunOptions } from '../config/options.js';
import type { ControlServer } from '../control/control-server.js';
import { Journal } from '../journal/journal.js';
import { OBSERVATIONS_JOURNAL } from '../journal/journal-names.js';
import { OciMetrics } from '../oci/metrics.js';
import { createOciStage } from '../oci/oci-stage.js';
import { EgressTally } from '../provenance/egress-summary.js';
import { Outbox } from '../reporters/outbox.js';
import { loadOrCreateInvocation } from './build-identity.js';
import { registerControlRoutes } from './control-routes.js';
import { openEgressRecords } from './egress-records.js';
import { JournalAnchors, refuseRewrittenJournal } from './journal-anchors.js';
import { ObservationRecorder } from './observation-recorder.js';
import { appendObservation } from './observation-records.js';
import { replayObservations } from './observation-replay.js';
import { openSigner } from './open-signer.js';
import { openSinks, type RegistryAccess } from './open-sinks.js';
import type { ExchangeStages } from './proxy-app.js';
import { createPublisher } from './publisher.js';
import { statementContexts } from './statement-context.js';

export type { RegistryAccess } from './open-sinks.js';

/**
 * Everything after the hot path, wired in data-flow order: exchange → OCI interpreter →
 * replay (at start) → recorder (journal, durable first, then the build record) → publisher
 * (statement → DSSE → outbox → sinks) → the /v1 control routes. Each stage is its own file.
 */
export async function openBuildPipeline(
  options: RunOptions,
  logger: Logger,
  ctx: { registry: Registry; control: ControlServer },
  upstreamCa: readonly string[],
  registryAccess: RegistryAccess | null = null,
): Promise<ExchangeStages> {
  const { registry, control } = ctx;
  const journal = await Journal.open({ dir: options.dataDir, name: OBSERVATIONS_JOURNAL, logger, registry });
  const egress = new EgressTally();
  // Egress-policy decisions and capture checks (issue 10): journaled, replayed, in the statement.
  const egressRecords = openEgressRecords(options, {
    egress,
    control,
    registry,
    logger,
    append: (kind, data) => recorder.record(kind, data),
  });
  const replayed = await replayObservations(journal, logger, registry, { egress, egressRecords });
  const { record } = replayed;

  const signer = await openSigner(options, logger);
  const sinks = await openSinks(
    options,
    logger,
    upstreamCa,
    signer.publicKeyPem,
    registryAccess,
    async (a) => {
      await appendObservation(journal, 'attestation.attached', a);
    },
  );
  const outbox = await Outbox.open({
    dir: options.dataDir,
    sinks,
    logger,
    registry,
    retry: { baseDelayMs: options.reportRetryBaseMs, maxDelayMs: options.reportRetryMaxMs },
  });

  const { invocation, unreadableSavedTo } = loadOrCreateInvocation(options.dataDir);
  if (unreadableSavedTo !== null)
    logger.error(
      { savedTo: unreadableSavedTo, invocationId: invocation.invocationId },
      'build.json was empty or unreadable: saved it aside and began a new invocation; reports from here on carry the new invocation id',
    );
  await refuseRewrittenJournal(journal, signer, logger);
  // The chain head, signed: a rewritten or recomputed journal no longer matches its anchors.
  const anchors = new JournalAnchors(journal, signer, { invocationId: invocation.invocationId, logger });
  await anchors.anchor('start');
  anchors.start(options.journalAnchorIntervalMs);

  const recorder: ObservationRecorder = new ObservationRecorder({
    journal,
    record,
    egress,
    ociMetrics: new OciMetrics(registry),
    logger,
    registry,
    onManifestPushed: () => publisher.reportReadyImages(),
  });
  const publisher = createPublisher({
    record,
    journal,
    anchors,
    signer,
    outbox,
    sinkNames: sinks.map((s) => s.name),
    invocationId: invocation.invocationId,
    context: statementContexts(options, signer, invocation, egress, egressRecords),
    finishedOn: replayed.finishedOn,
    settle: () => recorder.settled(),
    logger,
    registry,
  });
  // A crash between journaling a push and enqueueing its report is healed here: the outbox
  // ignores report ids it already holds.
  publisher.reportReadyImages();
  registerControlRoutes(control, {
    record,
    journal,
    signer,
    publisher,
    reportsPending: () => outbox.pending(),
  });

  const pushPolicy = options.pushAllow.length > 0 ? { rules: options.pushAllow } : null;
  const oci = createOciStage(
    { manifestCaptureLimit: options.maxManifestBytes },
    logger,
    recorder.recordAttempt,
    pushPolicy,
  );

  return {
    planner: oci.planner,
    onExchange: (exchange) => recorder.exchange(exchange, oci.accept(exchange)),
    onTunnel: (tunnel) => recorder.tunnel(tunnel),
    onRefusedDestination: (refusal) => recorder.refusedDestination(refusal),
    onEgressDecision: (attempt) => egressRecords.onEgressDecision(attempt),
    onCaptureEvent: (event) => egressRecords.onCaptureEvent(event),
    isHealthy: () => recorder.healthy,
    readyDetails: () =>
      outbox
        .authProblems()
        .map(
          (p) =>
            `reports failing auth: sink ${p.sink} answers ${p.cause.replace(/^http_/, '')} since ${new Date(p.since).toISOString()}; reports are kept and retried`,
        ),
    seal: async () => {
      await publisher.finalize();
    },
    close: async (graceMs: number) => {
      recorder.stop();
      try {
        await publisher.finalize();
        const drained = await outbox.drain(graceMs);
        if (!drained)
          logger.warn(
            { pending: outbox.pending() },
            'reports still pending at exit; they are kept and sent on the next start',
          );
      } finally {
        anchors.stop();
        await anchors.anchor('close');
        await outbox.close();
        await journal.close();
      }
    },
  };
}
