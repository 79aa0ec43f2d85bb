// The bugs of five hand-written parsers, checked through each command's own entry point: a value
// one command accepts, every command taking that option accepts, and the same for refusals.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { runVerifyCommand } from '../../../src/cli/verify-command.js';
import { CA_COMMAND } from '../../../src/config/ca-table.js';
import { INJECT_COMMAND } from '../../../src/config/inject-table.js';
import { type CommandOptions, parseOptions } from '../../../src/config/option-table.js';
import { parseRunOptions } from '../../../src/config/options.js';
import { OUTBOX_RESEND_COMMAND } from '../../../src/config/outbox-table.js';
import { REPORT_COMMAND } from '../../../src/config/report-table.js';
import { readTokenFile, readTokenFileSync } from '../../../src/config/token-file.js';
import { InvalidOptionError } from '../../../src/errors.js';
import { EXIT } from '../../../src/exit-codes.js';
import { parseStoreArgs } from '../../../src/store/store-options.js';
import { ecdsaKeyFiles } from '../../signing/keys.js';

const keys = ecdsaKeyFiles();
t.teardown(keys.cleanup);
const REFERENCE = `registry.test/app@sha256:${'a'.repeat(64)}`;
/** Nothing listens on port 1 of loopback: a verify that gets past its options fails to reach the store (exit 3). */
const CLOSED = 'http://127.0.0.1:1';

async function verify(args: string[]): Promise<{ code: number; err: string }> {
  let err = '';
  const code = await runVerifyCommand(
    [REFERENCE, '--public-key', keys.publicPath, ...args],
    { write: () => true },
    { write: (s: string) => (err += s) },
  );
  return { code, err };
}

function accepts<V>(spec: CommandOptions<V>, argv: string[]): boolean {
  try {
    parseOptions(spec, argv, {});
    return true;
  } catch (error) {
    if (error instanceof InvalidOptionError) return false;
    throw error;
  }
}

function runAccepts(argv: string[]): boolean {
  try {
    parseRunOptions(argv, {});
    return true;
  } catch (error) {
    if (error instanceof InvalidOptionError) return false;
    throw error;
  }
}

t.test('verify takes the domain-scoped project ids run and outbox resend take', async (t) => {
  for (const project of ['example.com:build', 'plain-project']) {
    t.ok(runAccepts(['--grafeas-url', CLOSED, '--grafeas-project', project]), `run: ${project}`);
    t.ok(
      accepts(OUTBOX_RESEND_COMMAND, [
        '--data-dir',
        '/d',
        '--grafeas-url',
        CLOSED,
        '--grafeas-project',
        project,
      ]),
      `outbox resend: ${project}`,
    );
    const run = await verify(['--grafeas-url', CLOSED, '--grafeas-project', project]);
    t.equal(
      run.code,
      EXIT.unavailable.status,
      `verify: ${project} passes the options, fails to reach the store`,
    );
  }
  for (const project of ['a/b', '.p', 'x'.repeat(129)]) {
    t.notOk(runAccepts(['--grafeas-url', CLOSED, '--grafeas-project', project]), `run refuses ${project}`);
    const run = await verify(['--grafeas-url', CLOSED, '--grafeas-project', project]);
    t.equal(run.code, EXIT.usage.status, `verify refuses ${project}`);
    t.match(run.err, /invalid option --grafeas-project: .* must be 1-128 letters/);
  }
});

t.test('one Grafeas URL rule: run, verify and outbox resend accept and refuse the same URLs', async (t) => {
  const cases: [string, boolean][] = [
    [CLOSED, true],
    [`${CLOSED}/api/`, true],
    [`${CLOSED}/v1`, false],
    [`${CLOSED}/?key=x`, false],
    ['ftp://127.0.0.1:1', false],
    ['http://user:secret@127.0.0.1:1', false],
  ];
  for (const [url, good] of cases) {
    t.equal(runAccepts(['--grafeas-url', url, '--grafeas-project', 'p']), good, `run ${url}`);
    t.equal(
      accepts(OUTBOX_RESEND_COMMAND, ['--data-dir', '/d', '--grafeas-url', url, '--grafeas-project', 'p']),
      good,
      `outbox resend ${url}`,
    );
    const run = await verify(['--grafeas-url', url, '--grafeas-project', 'p']);
    t.equal(run.code, good ? EXIT.unavailable.status : EXIT.usage.status, `verify ${url}`);
    t.notMatch(run.err, /secret/, 'the refusal never quotes credentials');
  }
});

t.test('the control URL of report and ca: one rule, one environment variable', async (t) => {
  for (const [url, good] of [
    ['http://127.0.0.1:9464', true],
    ['file:///etc/passwd', false],
    ['http://u:p@127.0.0.1:9464', false],
  ] as const) {
    t.equal(accepts(REPORT_COMMAND, ['--control-url', url]), good, `report ${url}`);
    t.equal(accepts(CA_COMMAND, ['--control', url]), good, `ca ${url}`);
    t.throws(() => {
      if (!good) parseOptions(REPORT_COMMAND, [], { PROVENANCE_PROXY_CONTROL_URL: url });
      if (!good) parseOptions(CA_COMMAND, [], { PROVENANCE_PROXY_CONTROL_URL: url });
      if (!good) return;
      throw new InvalidOptionError('-', 'good');
    }, InvalidOptionError);
  }
});

t.test('every command that takes --log-level takes the same levels', async (t) => {
  const dataDir = keys.dir;
  const parsers: [string, (level: string) => Promise<unknown>][] = [
    ['run', async (level) => parseRunOptions(['--log-level', level], {}).logLevel],
    [
      'store',
      async (level) => (await parseStoreArgs(['--data-dir', dataDir, '--log-level', level]))?.logLevel,
    ],
    [
      'inject',
      async (level) => parseOptions(INJECT_COMMAND, ['--bootstrap-certs', dataDir, '--log-level', level], {}),
    ],
  ];
  for (const [command, parse] of parsers) {
    for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
      await t.resolves(parse(level), `${command} takes ${level}`);
    for (const level of ['chatty', 'INFO', 'warning'])
      await t.rejects(
        parse(level),
        { name: 'InvalidOptionError', message: /^invalid option --log-level: must be one of/ },
        `${command} refuses ${level}`,
      );
  }
});

t.test(
  'one token-file reading: trimmed; empty, spaced or missing is an error naming the option',
  async (t) => {
    const write = (name: string, text: string) => {
      const path = join(keys.dir, name);
      writeFileSync(path, text);
      return path;
    };
    const token = 'a-token-of-twenty-chars';
    t.equal(await readTokenFile('--x-token-file', write('ok', `${token}\n`)), token);
    t.equal(readTokenFileSync('--x-token-file', write('ok2', `  ${token}  \n`), { minLength: 16 }), token);
    for (const [name, text, message] of [
      ['empty', '\n', /is empty/],
      ['spaced', 'two tokens\n', /one token, without spaces/],
      ['folded', 'abc\r\nInjected: header', /one token, without spaces/],
    ] as const) {
      const path = write(name, text);
      await t.rejects(readTokenFile('--x-token-file', path), { option: '--x-token-file', message });
      t.throws(() => readTokenFileSync('--x-token-file', path), { option: '--x-token-file', message });
    }
    t.throws(() => readTokenFileSync('--x', write('short', 'abc'), { minLength: 16 }), {
      message: /at least 16/,
    });
    await t.rejects(readTokenFile('--x-token-file', join(keys.dir, 'missing')), {
      message: /cannot read.*ENOENT/,
    });
    const leak = write('secret', 'secret value');
    t.throws(
      () => readTokenFileSync('--x', leak),
      { message: /^(?!.*secret value)/ },
      'never quotes the token',
    );

    const empty = write('verify-empty', '\n');
    const run = await verify([
      '--grafeas-url',
      CLOSED,
      '--grafeas-project',
      'p',
      '--grafeas-token-file',
      empty,
    ]);
    t.equal(
      run.code,
      EXIT.unavailable.status,
      'verify: an empty token file is an unavailable input, as before',
    );
    t.match(run.err, /--grafeas-token-file: token file .* is empty/);
  },
);
