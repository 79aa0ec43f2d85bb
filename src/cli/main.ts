#!/usr/bin/env -S node --max-semi-space-size=1
import { ProvenanceProxyError } from '../errors.js';
import { exitStatus, exitStatusOf } from '../exit-codes.js';
import { caCommand } from './ca-command.js';
import { runCommand } from './run-command.js';

const HELP = `Usage: provenance-proxy <command> [options]

Commands:
  run       start the intercepting proxy and its control server
  ca        print the running proxy's CA certificate, or create a CA pair for a Secret
  journal   verify the observation journal (journal verify --data-dir DIR)
  outbox    list and re-send dead-lettered reports (outbox list|resend --data-dir DIR)
  store     run the Grafeas v1 compatible provenance store
  verify    verify signed provenance for an image digest
  inject    serve the sidecar injector webhook, or bootstrap its serving certificate
  report    write Tekton Chains results from what the running proxy saw pushed
  capture-rules  print, apply or check the transparent-capture netfilter rules

Run 'provenance-proxy <command> --help' for a command's options. Exit statuses: docs/errors.md.
`;

type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, () => Promise<Command>> = {
  run: async () => runCommand,
  ca: async () => caCommand,
  journal: async () => (await import('./journal-command.js')).journalCommand,
  outbox: async () => (await import('./outbox-command.js')).outboxCommand,
  store: async () => (await import('./store-entry.js')).storeCommand,
  verify: async () => (await import('./verify-entry.js')).verifyCommand,
  inject: async () => (await import('./inject-command.js')).injectCommand,
  report: async () => (await import('./report-command.js')).reportCommand,
  'capture-rules': async () => (await import('./capture-rules-command.js')).captureRulesCommand,
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(HELP);
    return exitStatus(name === undefined ? 'usage' : 'ok');
  }
  const load = COMMANDS[name];
  if (!load) {
    process.stderr.write(`provenance-proxy: unknown command "${name}"\n\n${HELP}`);
    return exitStatus('usage');
  }
  return (await load())(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof ProvenanceProxyError) {
      process.stderr.write(`provenance-proxy: ${error.message} [${error.code}]\n`);
    } else {
      process.stderr.write(`provenance-proxy: ${(error as Error)?.message ?? String(error)}\n`);
    }
    // The one table (exit-codes.ts, docs/errors.md): a typed error's code names its row.
    process.exitCode = exitStatusOf(error);
  },
);
