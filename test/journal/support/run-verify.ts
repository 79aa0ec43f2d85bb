import { PassThrough } from 'node:stream';
import { runJournalVerify } from '../../../src/journal/verify-command.js';

/** `journal verify ARGV` in-process: its exit code and everything it printed. */
export async function runVerify(argv: string[]): Promise<{ code: number; output: string }> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const code = await runJournalVerify(argv, out);
  return { code, output: Buffer.concat(chunks).toString('utf8') };
}
