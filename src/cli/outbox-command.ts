import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { AttestationSink } from '../attest/attestation-sink.js';
import { type OpenRegistryAccess, openRegistryAccess } from '../broker/open-broker.js';
import { createLogger } from '../log/logger.js';
import { appendDeadLetterLine, type DeadLetter, readDeadLetters } from '../reporters/dead-letter.js';
import { FileSink } from '../reporters/file-sink.js';
import { GrafeasSink } from '../reporters/grafeas-sink.js';
import type { ProvenanceSink } from '../reporters/sink.js';
import { loadUpstreamTrust } from '../tls/upstream-trust.js';

/** Exit codes of `provenance-proxy outbox`, like `journal verify`'s. */
export const OUTBOX_EXIT = { ok: 0, failed: 1, usage: 64 } as const;

const USAGE = `Usage: provenance-proxy outbox list   --data-dir DIR [--json]
       provenance-proxy outbox resend --data-dir DIR [--id ID]...
                                      [--grafeas-url U --grafeas-project P [--grafeas-token-file F] [--grafeas-ca F]]
                                      [--provenance-dir D]
                                      [--attach-attestations [--registry-auth F] [--upstream-ca F]...]

Dead letters are reports a sink refused as they are (the store proved the payload malformed or too
large) or that passed the retry max age. They are kept in DIR/dead-letter.jsonl and never deleted.
  list     show every dead letter: id, state (parked, or resent and when), sink, report, the store's answer
  resend   deliver the parked ones (or those named by --id, also if resent before) again, to the sinks
           given here (grafeas for letters of the grafeas sink, --provenance-dir for the file sink,
           --attach-attestations for registry-attestations: stored in the image's repository with
           these credentials and trust, as run does), and record each success as resent. Safe to
           repeat: sinks skip what they already hold.
Exit: 0 ok (resend: every chosen letter delivered), 1 a letter failed, is unknown or its sink not given,
or the file is unreadable, 64 usage.
`;

class UsageError extends Error {}

export async function outboxCommand(
  argv: string[],
  out: NodeJS.WritableStream = process.stdout,
): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h') {
    out.write(USAGE);
    return OUTBOX_EXIT.ok;
  }
  try {
    if (sub === 'list') return await list(rest, out);
    if (sub === 'resend') return await resend(rest, out);
    throw new UsageError(
      sub === undefined ? 'give a subcommand: list or resend' : `unknown subcommand ${sub}`,
    );
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`provenance-proxy outbox: ${error.message}\n${USAGE}`);
    return OUTBOX_EXIT.usage;
  }
}

function parse(
  argv: string[],
  options: NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>['options']>,
) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values as Record<
      string,
      string | string[] | boolean | undefined
    >;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function required(values: Record<string, unknown>, name: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value === '') throw new UsageError(`--${name} is required`);
  return value;
}

async function list(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const values = parse(argv, { 'data-dir': { type: 'string' }, json: { type: 'boolean' } });
  const { letters, unreadable } = await readDeadLetters(required(values, 'data-dir'));
  if (values['json'] === true) {
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
  return unreadable > 0 ? OUTBOX_EXIT.failed : OUTBOX_EXIT.ok;
}

async function resend(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const values = parse(argv, {
    'data-dir': { type: 'string' },
    id: { type: 'string', multiple: true },
    'grafeas-url': { type: 'string' },
    'grafeas-project': { type: 'string' },
    'grafeas-token-file': { type: 'string' },
    'grafeas-ca': { type: 'string', multiple: true },
    'provenance-dir': { type: 'string' },
    'attach-attestations': { type: 'boolean' },
    'registry-auth': { type: 'string' },
    'upstream-ca': { type: 'string', multiple: true },
  });
  const dir = required(values, 'data-dir');
  if ((values['grafeas-url'] === undefined) !== (values['grafeas-project'] === undefined)) {
    throw new UsageError('--grafeas-url and --grafeas-project go together');
  }
  const logger = createLogger('warn', process.stderr);
  const sinks = new Map<string, ProvenanceSink>();
  let grafeas: GrafeasSink | undefined;
  if (typeof values['grafeas-url'] === 'string') {
    const ca = await Promise.all(((values['grafeas-ca'] ?? []) as string[]).map((f) => readFile(f, 'utf8')));
    grafeas = new GrafeasSink({
      url: values['grafeas-url'],
      project: values['grafeas-project'] as string,
      tokenFile: (values['grafeas-token-file'] as string | undefined) ?? null,
      ...(ca.length > 0 ? { ca } : {}),
      logger,
    });
    sinks.set(grafeas.name, grafeas);
  }
  if (typeof values['provenance-dir'] === 'string') {
    const file = await FileSink.open({ directory: values['provenance-dir'], logger });
    sinks.set(file.name, file);
  }
  let registryAccess: OpenRegistryAccess | undefined;
  if (values['attach-attestations'] === true) {
    registryAccess = openRegistryAccess(
      (values['registry-auth'] as string | undefined) ?? null,
      loadUpstreamTrust((values['upstream-ca'] ?? []) as string[]),
      logger,
    );
    // The proxy's journal is its own: here the attachment is reported on stdout.
    const attestations = new AttestationSink(registryAccess.client, registryAccess.broker, async (a) => {
      out.write(`attached ${a.registry}/${a.repository}:${a.tag} (${a.manifestDigest})\n`);
    });
    sinks.set(attestations.name, attestations);
  }
  if (sinks.size === 0)
    throw new UsageError(
      'give a sink to resend to: --grafeas-url/--grafeas-project, --provenance-dir or --attach-attestations',
    );

  const { letters } = await readDeadLetters(dir);
  const ids = (values['id'] ?? []) as string[];
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
  return failed > 0 ? OUTBOX_EXIT.failed : OUTBOX_EXIT.ok;
}
