import { join } from 'node:path';
import { type CommandResult, runCommand } from '../../support/run-command.js';
import { PROJECT_ROOT } from '../../support/tools.js';

const CLI = join(PROJECT_ROOT, 'dist/cli/main.js');

/** `provenance-proxy report …` from the build (`npm run build` first), with a clean proxy-free env. */
export function runReport(args: readonly string[]): Promise<CommandResult> {
  const env = { ...process.env };
  delete env.PROVENANCE_PROXY_CONTROL_URL;
  delete env.PROVENANCE_PROXY_CONTROL_TOKEN_FILE;
  return runCommand(process.execPath, [CLI, 'report', ...args], { env, timeoutMs: 60_000 });
}
