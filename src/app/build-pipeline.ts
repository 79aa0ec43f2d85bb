import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import {
  ATTESTATION_SINK_NAME,
  type AttachedAttestation,
  AttestationSink,
} from '../attest/attestation-sink.js';
import type { CredentialBroker } from '../broker/credential-broker.js';
import type { OwnClient } from '../broker/own-client.js';
import type { RunOptions } from '../config/options.js';
import { type ControlServer, json } from '../control/control-server.js';
import { JournalError } from '../errors.js';
import type { CompletedExchange, TunnelRecord } from '../http/completed-exchange.js';
import { Journal } from '../journal/journal.js';
import { verifyAnchors } from '../journal/journal-anchor.js';
import { parseJournalPageQuery } from '../journal/journal-page.js';
import type { DestinationRefusal } from '../net/destination-policy.js';
import type { OciEvent } from '../oci/events.js';
import { OciMetrics } from '../oci/metrics.js';
import { createOciStage } from '../oci/oci-stage.js';
import {
  outcomeUnknownAfterRestart,
  PUSH_ATTEMPT_KIND,
  PUSH_SETTLED_KIND,
  type PushAttempt,
  UnsettledAttempts,
} from '../oci/push-attempts.js';
import { type EgressHost, EgressTally } from '../provenance/egress-summary.js';
import { reportableOutputs } from '../provenance/reportable.js';
import {
  BYPRODUCT_URNS,
  buildStatement,
  imageStatement,
  type StatementContext,
  validateStatementContext,
} from '../provenance/statement.js';
import { IN_TOTO_PAYLOAD_TYPE, type InTotoStatement } from '../provenance/statement-types.js';
import { BuildRecord } from '../record/build-record.js';
import { imagesView } from '../record/images-view.js';
import type { ResolvedImage } from '../record/resolve-images.js';
import { FileSink } from '../reporters/file-sink.js';
import { GrafeasSink } from '../reporters/grafeas-sink.js';
import { Outbox } from '../reporters/outbox.js';
import type { ProvenanceSink, SignedReport } from '../reporters/sink.js';
import type { Signer } from '../signing/envelope.js';
import { createEphemeralSigner, loadKeySigner } from '../signing/key-signer.js';
import { parsePublicKeyPem } from '../signing/public-key.js';
import { buildIdentityFromEnv, loadOrCreateInvocation } from './build-identity.js';
import { openEgressRecords } from './egress-records.js';
import { JournalAnchors } from './journal-anchors.js';
import type { ExchangeStages } from './proxy-app.js';

/** Journal kind of an attestation stored in a registry by the proxy's own client. */
const ATTESTATION_ATTACHED_KIND = 'attestation.attached';

/** The proxy's own way to registries: its client, and the broker when it holds credentials. */
export interface RegistryAccess {
  readonly client: OwnClient;
  readonly broker: CredentialBroker | null;
}

/** Journal kind of the per-host egress tallies: one entry per host that changed since the previous line. */
const EGRESS_HOSTS_KIND = 'egress.hosts';
/** How often host tallies are journaled; a kill -9 loses at most this much of the byte counts, never an observation. */
const EGRESS_FLUSH_MS = 10_000;

interface EgressHostsLine {
  readonly hosts?: readonly EgressHost[];
}

const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/**
 * Everything after the hot path, in data-flow order:
 * exchange → OCI interpreter → journal (durable first) → build record →
 * statement → DSSE → outbox → sinks. Also the /v1 control views.
 */
export async function openBuildPipeline(
  options: RunOptions,
  logger: Logger,
  ctx: { registry: Registry; control: ControlServer },
  upstreamCa: readonly string[],
  registryAccess: RegistryAccess | null = null,
): Promise<ExchangeStages> {
  const { registry, control } = ctx;
  const journal = await Journal.open({ dir: options.dataDir, name: 'observations.jsonl', logger, registry });
  const egress = new EgressTally();
  // Egress-policy decisions and capture checks (issue 10): journaled, replayed, in the statement.
  const egressRecords = openEgressRecords(options, {
    egress,
    control,
    registry,
    logger,
    append: async (k, d) => {
      await append(k, d);
    },
  });
  // Streamed: each observation is applied as it is read and its body (a parsed manifest) is
  // dropped at once; the record keeps only manifest facts, so a restart costs what the record
  // holds, not what the journal holds.
  const record = new BuildRecord();
  let finishedOn: number | null = null;
  const unsettled = new UnsettledAttempts();
  for await (const entry of journal.entries()) {
    if (entry.kind.startsWith('oci.')) {
      record.apply(entry.data as OciEvent);
      unsettled.settled((entry.data as OciEvent).exchangeId);
      // The build went on after an earlier finalize (the sidecar restarted mid-build).
      finishedOn = null;
    } else if (entry.kind === 'egress.tunnel') egress.addTunnel(entry.data as TunnelRecord);
    else if (entry.kind === EGRESS_HOSTS_KIND)
      egress.addJournaledHosts((entry.data as EgressHostsLine).hosts ?? []);
    else if (entry.kind === 'egress.refused') egress.addBlocked();
    else if (entry.kind === 'build.finalized') finishedOn = (entry.data as { finishedOn: number }).finishedOn;
    else if (entry.kind === PUSH_ATTEMPT_KIND) unsettled.attempted(entry.data as PushAttempt);
    else if (entry.kind === PUSH_SETTLED_KIND) unsettled.settled((entry.data as PushAttempt).exchangeId);
    else egressRecords.replay(entry.kind, entry.data);
  }
  // Pushes the last run stopped in the middle of (kill -9, OOM): the registry may hold them.
  // Settled before any traffic, so this run's exchange ids cannot meet the last run's.
  for (const attempt of unsettled.list) {
    const event = outcomeUnknownAfterRestart(attempt, Date.now());
    await journal.append(`oci.${event.type}`, event);
    await journal.append(PUSH_SETTLED_KIND, { exchangeId: attempt.exchangeId });
    record.apply(event);
    finishedOn = null;
    logger.warn(
      { registry: attempt.registry, repository: attempt.repository, digest: attempt.digest },
      'a manifest push was under way when the proxy stopped: recorded as push_outcome_unknown',
    );
  }
  if (record.size > 0)
    logger.info({ observations: record.size }, 'rebuilt the build record from the journal');
  const ociMetrics = new OciMetrics(registry);
  // Exchanges whose push attempt is journaled and whose outcome is not yet.
  const openAttempts = new Set<string>();
  // Rejects when the journal cannot take it: the hot path then refuses the push (fail closed).
  const recordAttempt = (attempt: PushAttempt): Promise<void> => {
    openAttempts.add(attempt.exchangeId);
    return journal.append(PUSH_ATTEMPT_KIND, attempt).then(
      () => undefined,
      (error: unknown) => {
        journalHealthy = false;
        throw error;
      },
    );
  };
  const pushPolicy = options.pushAllow.length > 0 ? { rules: options.pushAllow } : null;
  const oci = createOciStage(
    { manifestCaptureLimit: options.maxManifestBytes },
    logger,
    recordAttempt,
    pushPolicy,
  );

  const signer = await openSigner(options, logger);
  const attached = async (attachment: AttachedAttestation): Promise<void> => {
    await journal.append(ATTESTATION_ATTACHED_KIND, attachment);
  };
  const sinks = await openSinks(options, logger, upstreamCa, signer.publicKeyPem, registryAccess, attached);
  const outbox = await Outbox.open({
    dir: options.dataDir,
    sinks,
    logger,
    registry,
    retry: { baseDelayMs: options.reportRetryBaseMs, maxDelayMs: options.reportRetryMaxMs },
  });
  const sinkNames = sinks.map((s) => s.name);

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

  const baseContext = validateStatementContext({
    builderId: options.builderId,
    builderVersion: VERSION,
    build: buildIdentityFromEnv(process.env),
    proxyConfigDigest: configDigest(options),
    policy: {
      intercept: options.intercept.map((p) => p.source),
      tunnel: options.tunnel.map((p) => p.source),
      // Ranges re-opened past the destination policy: a reader sees what the build could reach.
      allowDestination: options.allowDestination.map((c) => c.source),
      ...(options.pushAllow.length > 0 ? { pushAllow: options.pushAllow.map((r) => r.source) } : {}),
      egressPolicy: { mode: options.egressPolicy, allow: options.egressAllow.map((p) => p.source) },
      // An ephemeral key proves nothing beyond this pod; publishing it here lets a reader see that.
      signingKey: {
        keyid: signer.keyid,
        algorithm: signer.algorithm,
        ephemeral: signer.ephemeral,
        ...(signer.ephemeral ? { publicKeyPem: signer.publicKeyPem } : {}),
      },
    },
    invocationId: invocation.invocationId,
    startedOn: invocation.startedOn,
    egress: egress.summary(),
  });
  const context = (finished: number | null): StatementContext => ({
    ...baseContext,
    finishedOn: finished,
    egress: egress.summary(),
    ...egressRecords.context(),
  });

  const signingFailures = new Counter({
    name: 'provenance_proxy_signing_failures_total',
    help: 'Statements that could not be made, signed or handed to the outbox, by stage (statement, sign, enqueue)',
    labelNames: ['stage'],
    registers: [registry],
  });
  let journalHealthy = true;
  new Gauge({
    name: 'provenance_proxy_journal_healthy',
    help: '1 while observations are journaled durably; 0 after a journal append failed (readiness fails too)',
    registers: [registry],
    collect() {
      this.set(journalHealthy ? 1 : 0);
    },
  });
  /** Observations appended but not yet applied to the record. */
  const inFlight = new Set<Promise<void>>();
  // Reports are made one at a time, in order: signing is async and two pushes of one image
  // must not race into two reports.
  let reporting: Promise<void> = Promise.resolve();
  const report = (
    kind: SignedReport['kind'],
    reportId: string,
    statement: InTotoStatement,
    image?: SignedReport['image'],
    only?: readonly string[],
  ) => {
    reporting = reporting.then(async () => {
      let stage = 'sign';
      try {
        const payload = Buffer.from(JSON.stringify(statement));
        const envelope = await signer.sign(IN_TOTO_PAYLOAD_TYPE, payload);
        stage = 'enqueue';
        if (sinkNames.length > 0)
          await outbox.enqueue(
            { reportId, kind, statement, envelope, ...(image === undefined ? {} : { image }) },
            only ?? sinkNames,
          );
      } catch (error) {
        // Not reported: the next push or restart tries again.
        reported.delete(reportId);
        signingFailures.inc({ stage });
        logger.error({ err: error, reportId, stage }, 'could not sign or enqueue a provenance report');
      }
    });
    return reporting;
  };
  // Report ids handed to the outbox by this process; after a restart the outbox itself
  // ignores ids it already holds, this only saves signing the same report again.
  const reported = new Set<string>();
  /** Signs and enqueues one image's statement, once (to `only` those sinks when given). */
  const reportImage = (
    reportId: string,
    image: { registry: string; repository: string; digest: string },
    only?: readonly string[],
  ): void => {
    if (reported.has(reportId)) return;
    let statement: InTotoStatement | null;
    try {
      statement = imageStatement(record, context(null), image, only !== undefined);
    } catch (error) {
      // Only the operator's configuration can make a statement too large (statement-bounds.ts).
      signingFailures.inc({ stage: 'statement' });
      logger.error({ err: error, reportId }, 'could not make a provenance statement');
      return;
    }
    if (statement === null) return;
    reported.add(reportId);
    const subject = { registry: image.registry, repository: image.repository, digest: image.digest };
    void report('image', reportId, statement, subject, only);
  };
  const attaching = sinkNames.includes(ATTESTATION_SINK_NAME);
  const reportReadyImages = () => {
    for (const image of reportableOutputs(record).ready) {
      reportImage(imageReportId(image), image);
      // cosign verifies each platform image by its own digest: every pushed child of an index
      // gets its own statement, for the registry only (the index's report covers the rest).
      if (!attaching) continue;
      for (const child of image.children) {
        if (!child.pushed) continue;
        const childImage = { registry: image.registry, repository: image.repository, digest: child.digest };
        reportImage(childAttestationId(childImage), childImage, [ATTESTATION_SINK_NAME]);
      }
    }
  };
  // A crash between journaling a push and enqueueing its report is healed here: the outbox
  // ignores report ids it already holds.
  reportReadyImages();

  // Finalizing is serialized; each one reports the build as it stands. The report id comes
  // from what the statement says (outputs and inputs, not times or byte counts), so finalizing
  // again with nothing new is a no-op, and a build that went on after a finalize (a restart
  // mid-build) is reported again, complete.
  let flushBeforeFinalize: () => Promise<void> = async () => {};
  let finalizing: Promise<InTotoStatement> = Promise.resolve(null as unknown as InTotoStatement);
  const finalize = (): Promise<InTotoStatement> => {
    finalizing = finalizing.then(async () => {
      // Observations already taken in must be in the record before the statement is made.
      await Promise.all(inFlight);
      await flushBeforeFinalize();
      if (finishedOn === null) {
        finishedOn = Date.now();
        await journal.append('build.finalized', { finishedOn });
      }
      const statement = buildStatement(record, context(finishedOn));
      await report('build', buildReportId(invocation.invocationId, statement), statement);
      await anchors.anchor('finalize');
      return statement;
    });
    return finalizing;
  };

  // Reads are open to the read token (a report step's), except a signed snapshot: signing on
  // demand stays with the control token, like finalize.
  const read = { access: 'read' } as const;
  const isDsse = (url: URL) => url.searchParams.get('format') === 'dsse';
  control.route('GET', '/v1/images', (_req, res) => json(res, 200, imagesView(record)), read);
  control.route(
    'GET',
    '/v1/provenance',
    async (_req, res, url) => {
      const statement = buildStatement(record, context(finishedOn));
      if (isDsse(url)) {
        json(res, 200, await signer.sign(IN_TOTO_PAYLOAD_TYPE, Buffer.from(JSON.stringify(statement))));
      } else json(res, 200, statement);
    },
    { access: (url) => (isDsse(url) ? 'control' : 'read') },
  );
  control.route(
    'GET',
    '/v1/observations',
    async (_req, res, url) => {
      let request: ReturnType<typeof parseJournalPageQuery>;
      try {
        request = parseJournalPageQuery(url.searchParams);
      } catch (error) {
        json(res, 400, { error: { code: 'ERR_JOURNAL_PAGE', message: (error as Error).message } });
        return;
      }
      json(res, 200, await journal.page(request));
    },
    read,
  );
  control.route(
    'GET',
    '/v1/public-key',
    (_req, res) =>
      json(res, 200, {
        keyid: signer.keyid,
        algorithm: signer.algorithm,
        publicKeyPem: signer.publicKeyPem,
        ephemeral: signer.ephemeral,
      }),
    read,
  );
  control.route('POST', '/v1/finalize', async (_req, res) => {
    const statement = await finalize();
    json(res, 200, {
      finalized: true,
      subjects: statement.subject.length,
      reportsPending: outbox.pending(),
    });
  });

  const append = (kind: string, data: unknown) =>
    journal.append(kind, data).catch((error: unknown) => {
      // The journal refuses further appends after an I/O error; readiness fails so the
      // platform sees it, and the observation stays visible in memory rather than being lost.
      if (journalHealthy)
        logger.error({ err: error }, 'journal append failed: observations are no longer durable');
      journalHealthy = false;
    });

  // The statement names the top hosts only; the journal keeps every host's tallies, so the full
  // list survives restarts. Flushed periodically and before each finalize, not per exchange.
  let egressFlush: Promise<void> = Promise.resolve();
  const flushEgress = (): Promise<void> => {
    egressFlush = egressFlush.then(async () => {
      for (const hosts of egress.takeUnjournaledHosts()) {
        try {
          await journal.append(EGRESS_HOSTS_KIND, { hosts });
        } catch (error) {
          egress.restoreUnjournaledHosts(hosts);
          if (journalHealthy) logger.error({ err: error }, 'could not journal egress host tallies');
        }
      }
    });
    return egressFlush;
  };
  const egressTimer = setInterval(() => void flushEgress(), EGRESS_FLUSH_MS);
  egressTimer.unref();
  flushBeforeFinalize = flushEgress;

  return {
    planner: oci.planner,
    onExchange: (exchange: CompletedExchange) => {
      egress.addExchange(exchange);
      const events = oci.accept(exchange);
      if (events.length > 0) {
        // The build goes on: a later finalize must stamp a new finishedOn.
        finishedOn = null;
      }
      for (const event of events) {
        const applied = append(`oci.${event.type}`, event).then(() => {
          record.apply(event);
          ociMetrics.observe([event]);
          if (event.type === 'manifestPushed') reportReadyImages();
        });
        inFlight.add(applied);
        void applied.finally(() => inFlight.delete(applied));
      }
      // Appends keep call order: the attempt is settled after its outcome's events.
      if (openAttempts.delete(exchange.id)) void append(PUSH_SETTLED_KIND, { exchangeId: exchange.id });
    },
    onTunnel: (tunnel: TunnelRecord) => {
      egress.addTunnel(tunnel);
      void append('egress.tunnel', tunnel);
      logger.info(
        { authority: tunnel.authority, bytesIn: tunnel.bytesFromClient, bytesOut: tunnel.bytesFromUpstream },
        'unobserved tunnel closed',
      );
    },
    onRefusedDestination: (refusal: DestinationRefusal) => {
      egress.addBlocked();
      void append('egress.refused', { ...refusal, at: Date.now() });
      logger.warn(refusal, 'destination refused by policy');
    },
    onEgressDecision: (attempt) => egressRecords.onEgressDecision(attempt),
    onCaptureEvent: (event) => egressRecords.onCaptureEvent(event),
    isHealthy: () => journalHealthy,
    readyDetails: () =>
      outbox
        .authProblems()
        .map(
          (p) =>
            `reports failing auth: sink ${p.sink} answers ${p.cause.replace(/^http_/, '')} since ${new Date(p.since).toISOString()}; reports are kept and retried`,
        ),
    seal: async () => {
      await finalize();
    },
    close: async (graceMs: number) => {
      clearInterval(egressTimer);
      try {
        await finalize();
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

/**
 * A journal whose own anchors (signed with this proxy's key) no longer match its lines was
 * rewritten, hashes recomputed: replaying it would sign forged observations, so the proxy refuses
 * to start, as it does on a broken chain. Anchors another key signed (a key rotated mid-build) do
 * not prove a rewrite and are only reported. An ephemeral key has no earlier anchors to check.
 */
async function refuseRewrittenJournal(journal: Journal, signer: Signer, logger: Logger): Promise<void> {
  if (signer.ephemeral || journal.lastSeq === 0) return;
  const report = await verifyAnchors(journal.path, [parsePublicKeyPem(signer.publicKeyPem)], journal.lastSeq);
  const rewritten = report.problems.find((p) => p.kind === 'rewritten');
  if (rewritten !== undefined)
    throw new JournalError(
      'ERR_JOURNAL_CHAIN',
      `${journal.path}: line ${rewritten.line}: ${rewritten.message}`,
    );
  if (report.problems.length > 0)
    logger.warn(
      { journal: journal.path, unverified: report.problems.length, first: report.problems[0] },
      'journal anchors not signed by the current key (was it rotated mid-build?)',
    );
}

async function openSigner(options: RunOptions, logger: Logger): Promise<Signer> {
  if (options.signingKey) {
    return loadKeySigner(options.signingKey, options.signingKeyId ? { keyid: options.signingKeyId } : {});
  }
  const signer = createEphemeralSigner(options.signingKeyId ? { keyid: options.signingKeyId } : {});
  logger.warn(
    { keyid: signer.keyid },
    'no --signing-key: provenance is signed with an ephemeral key that proves nothing beyond this pod (its public key is served at /v1/public-key)',
  );
  return signer;
}

async function openSinks(
  options: RunOptions,
  logger: Logger,
  upstreamCa: readonly string[],
  signerPublicKeyPem: string,
  registryAccess: RegistryAccess | null,
  attached: (attachment: AttachedAttestation) => Promise<void>,
): Promise<ProvenanceSink[]> {
  const sinks: ProvenanceSink[] = [];
  if (options.attachAttestations && registryAccess !== null)
    sinks.push(new AttestationSink(registryAccess.client, registryAccess.broker, attached));
  if (options.provenanceDir) sinks.push(await FileSink.open({ directory: options.provenanceDir, logger }));
  if (options.grafeasUrl && options.grafeasProject) {
    sinks.push(
      new GrafeasSink({
        url: options.grafeasUrl,
        project: options.grafeasProject,
        tokenFile: options.grafeasTokenFile,
        signerPublicKeyPem,
        ...(upstreamCa.length > 0 ? { ca: upstreamCa } : {}),
        logger,
      }),
    );
  }
  return sinks;
}

/** One report per image and tag set: a retag is news, a re-push of the same thing is not. */
function imageReportId(image: ResolvedImage): string {
  const key = `${image.registry}/${image.repository}@${image.digest}#${[...image.tags].sort().join(',')}`;
  return `image-${createHash('sha256').update(key).digest('hex').slice(0, 32)}`;
}

/** A child of an index, attested in the registry only. */
function childAttestationId(image: { registry: string; repository: string; digest: string }): string {
  const key = `${image.registry}/${image.repository}@${image.digest}`;
  return `attest-${createHash('sha256').update(key).digest('hex').slice(0, 32)}`;
}

/** Same outputs and inputs, same id: the build statement is news only when its content is. */
function buildReportId(invocationId: string, statement: InTotoStatement): string {
  const content = {
    subjects: statement.subject.map((s) => [s.name, s.digest, s.annotations ?? null]),
    inputs: (statement.predicate.buildDefinition.resolvedDependencies ?? []).map((d) => [d.uri, d.digest]),
    // A claim withdrawn after a finalize is news: the last report must not keep claiming it.
    egressComplete: (
      statement.predicate.runDetails.byproducts?.find((b) => b.uri === BYPRODUCT_URNS.egress)?.annotations?.[
        'capture'
      ] as { egressComplete?: boolean } | undefined
    )?.egressComplete,
  };
  const digest = createHash('sha256').update(JSON.stringify(content)).digest('hex').slice(0, 16);
  return `build-${invocationId}-${digest}`;
}

/** Digest of the effective configuration, recorded as internalParameters; paths only, never secrets. */
function configDigest(options: RunOptions): string {
  const view = {
    ...options,
    intercept: options.intercept.map((p) => p.source),
    tunnel: options.tunnel.map((p) => p.source),
    pushAllow: options.pushAllow.map((r) => r.source),
  };
  return `sha256:${createHash('sha256').update(JSON.stringify(view)).digest('hex')}`;
}
