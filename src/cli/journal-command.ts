import { JOURNAL_VERIFY_COMMAND } from '../config/journal-table.js';
import { formatHelp } from '../config/option-table.js';
import { exitStatus } from '../exit-codes.js';

const USAGE = formatHelp(JOURNAL_VERIFY_COMMAND);

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
