export async function journalCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'verify') {
    process.stderr.write('Usage: provenance-proxy journal verify --data-dir DIR [--json]\n');
    return sub === '--help' ? 0 : 2;
  }
  const { runJournalVerify } = await import('../journal/verify-command.js');
  return runJournalVerify(rest, process.stdout);
}
