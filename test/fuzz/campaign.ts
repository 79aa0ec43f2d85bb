import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { captureClientHello } from '../support/client-hello.js';
import { testPki } from '../support/pki.js';
import { type RunningProxy, startProxy } from '../support/proxy.js';
import { runCommand } from '../support/run-command.js';
import { makeTempDir } from '../support/temp-dir.js';
import { PROJECT_ROOT } from '../support/tools.js';
import { waitUntil } from '../support/wait-until.js';
import { startMisbehavingOrigin } from './misbehaving-origin.js';
import { Prng } from './prng.js';
import {
  type FuzzCase,
  type FuzzContext,
  makeCase,
  type Outcome,
  TARGETS,
  type TargetName,
} from './targets.js';

export interface CampaignOptions {
  /** Inputs to run (they are spread evenly over the targets). */
  readonly count: number;
  readonly seed: number;
  /** Inputs in flight at once. */
  readonly concurrency: number;
  /** Inputs per batch; after each batch the proxy's health is checked. */
  readonly batchSize: number;
  /** The journal is verified after this many batches, and at the end. */
  readonly verifyEvery: number;
  /** The whole campaign stops starting batches after this long (the report says so). */
  readonly timeBudgetMs: number;
  readonly progress: (line: string) => void;
}

export type FailureKind =
  | 'crash'
  | 'hang'
  | 'wrong_status'
  | 'setup_failed'
  | 'unverifiable_journal'
  /** The proxy logged an error or fatal line: a stage failed on an input it should have classified. */
  | 'logged_error';

export interface FailureClass {
  readonly kind: FailureKind;
  /** What tells this class apart: the error and frame of a crash, the target of a hang, … */
  readonly signature: string;
  count: number;
  readonly examples: string[];
}

export interface CampaignReport {
  inputs: number;
  durationMs: number;
  stoppedByTimeBudget: boolean;
  outcomes: Record<TargetName, Record<string, number>>;
  failures: FailureClass[];
  journalChecks: number;
  restarts: number;
}

/** A complete-enough window for a case: the proxy runs with short timeouts (see PROXY_ARGS). */
const CASE_DEADLINE_MS = 15_000;
const PROXY_ARGS = ['--headers-timeout', '1s', '--idle-timeout', '2s', '--shutdown-grace', '2s'];
const MAX_EXAMPLES = 3;

/**
 * Throws `count` mutated inputs at both sides of the real proxy (a child process), batch by
 * batch: after each batch the process must be alive and answer /healthz, every input must have
 * got a status or a close before its deadline, and every few batches the journal must verify.
 * A crash is recorded with the error the process died of, and the proxy is restarted so one
 * run finds every class.
 */
export async function runCampaign(options: CampaignOptions): Promise<CampaignReport> {
  const started = Date.now();
  const dir = await makeTempDir('fuzz');
  const origin = await startMisbehavingOrigin();
  // After a crash the next proxy gets fresh ports and a fresh data dir: reusing the ports can
  // collide with the thousands of ephemeral ports the fuzz clients take.
  const launch = (run: number) =>
    startProxy({ dir: join(dir.path, `run${run}`), upstreamCaPath: testPki().caPath, extraArgs: PROXY_ARGS });
  let proxy = await launch(0);
  const report: CampaignReport = {
    inputs: 0,
    durationMs: 0,
    stoppedByTimeBudget: false,
    outcomes: Object.fromEntries(TARGETS.map((t) => [t, {}])) as CampaignReport['outcomes'],
    failures: [],
    journalChecks: 0,
    restarts: 0,
  };
  const failures = new Map<string, FailureClass>();
  const fail = (kind: FailureKind, signature: string, example: string) => {
    const key = `${kind}:${signature}`;
    const known = failures.get(key) ?? { kind, signature, count: 0, examples: [] };
    known.count++;
    if (known.examples.length < MAX_EXAMPLES) known.examples.push(example);
    failures.set(key, known);
  };
  const checkJournal = async (dataDir: string, when: string) => {
    const broken = await journalProblem(dataDir);
    report.journalChecks++;
    if (broken) fail('unverifiable_journal', `journal verify failed ${when}`, broken);
  };
  const ctx: FuzzContext & { proxyCaPem: string; proxyPort: number } = {
    proxyPort: Number(new URL(proxy.url).port),
    proxyCaPem: proxy.trust.caPem,
    origin,
    clientHello: await captureClientHello('localhost'),
    deadlineMs: CASE_DEADLINE_MS,
  };
  const logCursor = { offset: 0 };
  const root = new Prng(options.seed);
  try {
    for (
      let batchStart = 0, batch = 0;
      batchStart < options.count;
      batchStart += options.batchSize, batch++
    ) {
      if (Date.now() - started > options.timeBudgetMs) {
        report.stoppedByTimeBudget = true;
        break;
      }
      const cases: FuzzCase[] = [];
      for (let id = batchStart; id < Math.min(options.count, batchStart + options.batchSize); id++) {
        cases.push(makeCase(id, TARGETS[id % TARGETS.length] as TargetName, root.fork(id)));
      }
      const outcomes = await runPool(cases, options.concurrency, (c) => c.run(ctx));
      report.inputs += cases.length;
      const log = await readFrom(proxy.logPath, logCursor);
      const crash = await crashOf(proxy, log);
      for (const line of loggedErrors(log)) fail('logged_error', line, `batch ${batch}`);
      for (const [i, outcome] of outcomes.entries()) {
        const fuzzCase = cases[i] as FuzzCase;
        const counts = report.outcomes[fuzzCase.target];
        const label = outcome.kind === 'status' ? `status_${outcome.status}` : outcome.kind;
        counts[label] = (counts[label] ?? 0) + 1;
        const problem = crash ? null : problemOf(outcome);
        if (problem) fail(problem, `${problem} on ${fuzzCase.target}`, describe(fuzzCase, outcome));
      }
      if (crash) {
        fail('crash', crash, cases.map((c) => `${c.id}:${c.target}`).join(' '));
        options.progress(`batch ${batch}: the proxy died (${crash}); restarting`);
        await proxy.stop();
        await checkJournal(proxy.dataDir, 'after a crash');
        report.restarts++;
        proxy = await launch(report.restarts);
        ctx.proxyCaPem = proxy.trust.caPem;
        ctx.proxyPort = Number(new URL(proxy.url).port);
        logCursor.offset = 0;
      }
      if ((batch + 1) % options.verifyEvery === 0) await checkJournal(proxy.dataDir, 'while running');
      if (batch % 20 === 0)
        options.progress(`${report.inputs}/${options.count} inputs, ${Date.now() - started} ms`);
    }
  } finally {
    await proxy.stop();
    await checkJournal(proxy.dataDir, 'after stop');
    await origin.close();
    await dir.remove();
  }
  report.failures = [...failures.values()];
  report.durationMs = Date.now() - started;
  return report;
}

/** Runs `work` on every item, `concurrency` at a time, and keeps the results in order. */
async function runPool<T, R>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}

function problemOf(outcome: Outcome): FailureKind | null {
  if (outcome.kind === 'hang') return 'hang';
  if (outcome.kind === 'setup_failed') return 'setup_failed';
  if (outcome.kind === 'status' && (outcome.status < 100 || outcome.status > 599)) return 'wrong_status';
  return null;
}

function describe(fuzzCase: FuzzCase, outcome: Outcome): string {
  const detail = outcome.kind === 'setup_failed' ? ` (${outcome.detail})` : '';
  return `case ${fuzzCase.id} ${fuzzCase.target} [${fuzzCase.mutations.join(',')}] ${fuzzCase.preview}${detail}`;
}

/** null while the proxy is alive and answers /healthz; else the error it died of, from its log. */
async function crashOf(proxy: RunningProxy, log: string): Promise<string | null> {
  const pid = proxy.pid();
  let alive = pid !== undefined;
  try {
    if (pid !== undefined) process.kill(pid, 0);
    alive = alive && (await proxy.control('/healthz')).status === 200;
  } catch {
    alive = false;
  }
  if (alive) return null;
  const error = /^(?:\w*Error|Uncaught \w+)(?: \[(\w+)\])?:? ?([^\n]*)\n((?:\s+at [^\n]*\n?){0,8})/m.exec(
    log,
  );
  if (!error) return `exited without a stack: ${log.slice(-300)}`;
  const frame = /\s+at (?:[^\n]*?)\(?((?:[^\n()]*\/)?(?:src|dist|node_modules)\/[^\n():]+:\d+)/.exec(
    error[3] ?? '',
  );
  return `${error[1] ?? error[2]} at ${frame?.[1]?.replace(/^.*?((?:src|dist|node_modules)\/)/, '$1') ?? 'node internals'}`;
}

/** The message of each error (50) or fatal (60) line of the proxy's JSON log. */
function loggedErrors(log: string): string[] {
  const messages: string[] = [];
  for (const line of log.split('\n')) {
    if (!/"level":[56]0/.test(line)) continue;
    try {
      const entry = JSON.parse(line) as { msg?: string; err?: { code?: string; message?: string } };
      messages.push(`${entry.msg ?? '?'} (${entry.err?.code ?? entry.err?.message?.slice(0, 80) ?? ''})`);
    } catch {
      messages.push(line.slice(0, 120));
    }
  }
  return messages;
}

async function readFrom(path: string, cursor: { offset: number }): Promise<string> {
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    if (size < cursor.offset) cursor.offset = 0;
    const buffer = Buffer.alloc(Math.min(size - cursor.offset, 4 * 1024 * 1024));
    await file.read(buffer, 0, buffer.length, Math.max(cursor.offset, size - buffer.length));
    cursor.offset = size;
    return buffer.toString('utf8');
  } finally {
    await file.close();
  }
}

/**
 * null when `journal verify` passes. A torn last line can be an append in progress while the
 * proxy runs, so it is read again (bounded) before it counts.
 */
async function journalProblem(dataDir: string): Promise<string | null> {
  const verify = () =>
    runCommand(
      process.execPath,
      [join(PROJECT_ROOT, 'dist/cli/main.js'), 'journal', 'verify', '--data-dir', dataDir],
      {
        timeoutMs: 60_000,
        // The CLI alone: not the test runner's loader hooks (NODE_OPTIONS), which are not what is checked.
        env: { ...process.env, NODE_OPTIONS: '' },
      },
    );
  const first = await verify();
  if (first.code === 0) return null;
  try {
    await waitUntil(async () => (await verify()).code === 0, {
      what: 'journal verify',
      attempts: 5,
      intervalMs: 200,
    });
    return null;
  } catch {
    const last = await verify();
    return `exit ${last.code}: ${(last.stdout + last.stderr).slice(0, 500)}`;
  }
}
