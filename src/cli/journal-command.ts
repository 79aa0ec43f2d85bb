import { exitStatus } from '../exit-codes.js';

const USAGE = `Usage: provenance-proxy journal verify (--data-dir DIR [--name FILE]… | --file PATH…)
                                      [--public-key PEM… [--require-sealed]] [--json]

Checks every line's hash and the chain of the observation and outbox journals; with --public-key,
also the signed anchors of the chain head (a rewritten chain, and with --require-sealed a cut tail).
Exit codes (docs/errors.md): 0 intact, 11 broken, tampered or unreadable, 12 torn last line only,
2 usage error.
`;

export async function journalCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (sub !== 'verify') {
    process.stderr.write(USAGE);
    return exitStatus('usage');
  }
  const { runJournalVerify } = await import('../journal/verify-command.js');
  return runJournalVerify(rest, process.stdout);
}
