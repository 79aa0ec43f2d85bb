import { readFile } from 'node:fs/promises';
import { AttestationSink } from '../attest/attestation-sink.js';
import { type OpenRegistryAccess, openRegistryAccess } from '../broker/open-broker.js';
import { type CommandOptions, formatHelp, parseOptions } from '../config/option-table.js';
import { OUTBOX_LIST_COMMAND, OUTBOX_RESEND_COMMAND } from '../config/outbox-table.js';
import { InvalidOptionError, UsageError } from '../errors.js';
import { exitStatus } from '../exit-codes.js';
import { createLogger } from '../log/logger.js';
import { appendDeadLetterLine, type DeadLetter, readDeadLetters } from '../reporters/dead-letter.js';
import { FileSink } from '../reporters/file-sink.js';
import { GrafeasSink } from '../reporters/grafeas-sink.js';
import type { ProvenanceSink } from '../reporters/sink.js';
import { loadUpstreamTrust } from '../tls/upstream-trust.js';

const USAGE = `${formatHelp(OUTBOX_LIST_COMMAND)}\n${formatHelp(OUTBOX_RESEND_COMMAND)}`;

export async function outboxCommand(
  argv: string[],
  out: NodeJS.WritableStream = process.stdout,
): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h') {
    out.write(USAGE);
    return exitStatus('ok');
  }
  try {
    if (sub === 'list') return await list(rest, out);
    if (sub === 'resend') return await resend(rest, out);
    throw new UsageError(
      sub === undefined ? 'give a subcommand: list or resend' : `unknown subcommand ${sub}`,
    );
  } catch (error) {
    if (!(error instanceof UsageError || error instanceof InvalidOptionError)) throw error;
    process.stderr.write(`provenance-proxy outbox: ${error.message}\n${USAGE}`);
    return exitStatus('usage');
  }
}

/** The subcommand's options; --help prints the usage and ends it with exit 0. */
function parse<Values>(
  spec: CommandOptions<Values>,
  argv: string[],
  out: NodeJS.WritableStream,
): Values | null {
  const parsed = parseOptions(spec, argv);
  if (parsed !== 'help') return parsed.values;
  out.write(USAGE);
  return null;
}

async function list(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const values = parse(OUTBOX_LIST_COMMAND, argv, out);
  if (values === null) return exitStatus('ok');
  const { letters, unreadable } = await readDeadLetters(values.dataDir);
  if (values.json) {
    const summary = letters.map(({ report, ...letter }) => ({
      ...letter,
      subjects: report.statement?.subject?.map((s) => s.name) ?? [],
    }));
    out.write(`${JSON.stringify({ deadLetters: summary, unreadable }, null, 2)}\n`);
  } else {
    for (const l of letters) {
      const state = l.resentAt === null ? 'parked' : `resent ${l.resentAt}`;
      out.write(
        `${l.id}  ${state}  sink=${l.sink}  ${l.kind} ${l.reportId}  parked ${l.at}  ${l.cause}: ${l.message}\n`,
      );
    }
    const parked = letters.filter((l) => l.resentAt === null).length;
    out.write(
      `${letters.length} dead letters, ${parked} parked${unreadable > 0 ? `, ${unreadable} unreadable lines` : ''}\n`,
    );
  }
  return unreadable > 0 ? exitStatus('incomplete') : exitStatus('ok');
}

async function resend(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const values = parse(OUTBOX_RESEND_COMMAND, argv, out);
  if (values === null) return exitStatus('ok');
  const dir = values.dataDir;
  const logger = createLogger('warn', process.stderr);
  const sinks = new Map<string, ProvenanceSink>();
  let grafeas: GrafeasSink | undefined;
  if (values.grafeasUrl !== null) {
    const ca = await Promise.all(values.grafeasCa.map((f) => readFile(f, 'utf8')));
    grafeas = new GrafeasSink({
      url: values.grafeasUrl,
      project: values.grafeasProject!,
      tokenFile: values.grafeasTokenFile,
      ...(ca.length > 0 ? { ca } : {}),
      logger,
    });
    sinks.set(grafeas.name, grafeas);
  }
  if (values.provenanceDir !== null) {
    const file = await FileSink.open({ directory: values.provenanceDir, logger });
    sinks.set(file.name, file);
  }
  let registryAccess: OpenRegistryAccess | undefined;
  if (values.attachAttestations) {
    registryAccess = openRegistryAccess(values.registryAuth, loadUpstreamTrust(values.upstreamCa), logger);
    // The proxy's journal is its own: here the attachment is reported on stdout.
    const attestations = new AttestationSink(registryAccess.client, registryAccess.broker, async (a) => {
      out.write(`attached ${a.registry}/${a.repository}:${a.tag} (${a.manifestDigest})\n`);
    });
    sinks.set(attestations.name, attestations);
  }

  const { letters } = await readDeadLetters(dir);
  const ids = values.ids;
  const unknown = ids.filter((id) => !letters.some((l) => l.id === id));
  for (const id of unknown) out.write(`${id}: no such dead letter\n`);
  const chosen: DeadLetter[] =
    ids.length > 0 ? letters.filter((l) => ids.includes(l.id)) : letters.filter((l) => l.resentAt === null);
  let failed = unknown.length;
  try {
    for (const letter of chosen) {
      const sink = sinks.get(letter.sink);
      if (sink === undefined) {
        out.write(`${letter.id}: not resent: it was for sink ${letter.sink}, which was not given\n`);
        failed += 1;
        continue;
      }
      try {
        await sink.deliver(letter.report);
      } catch (error) {
        out.write(`${letter.id}: still refused by ${sink.name}: ${(error as Error).message}\n`);
        failed += 1;
        continue;
      }
      await appendDeadLetterLine(dir, {
        type: 'resent',
        id: letter.id,
        at: new Date().toISOString(),
        sink: sink.name,
      });
      out.write(`${letter.id}: resent to ${sink.name} (${letter.kind} ${letter.reportId})\n`);
    }
  } finally {
    grafeas?.close();
    registryAccess?.close();
  }
  out.write(`${chosen.length - (failed - unknown.length)} of ${chosen.length} resent\n`);
  return failed > 0 ? exitStatus('incomplete') : exitStatus('ok');
}
