import t from 'tap';
import { runCampaign } from './campaign.js';

// The default suite runs a modest campaign; `npm run fuzz` runs the full one (README, Testing).
const count = Number(process.env.FUZZ_COUNT ?? 400);
const seed = Number(process.env.FUZZ_SEED ?? 0x5eed);
const timeBudgetMs = Number(process.env.FUZZ_TIME_BUDGET_MS ?? 30 * 60_000);

t.test(`fuzz: ${count} malformed inputs at both sides of the proxy (seed ${seed})`, async (t) => {
  const report = await runCampaign({
    count,
    seed,
    concurrency: 48,
    batchSize: 256,
    verifyEvery: 4,
    timeBudgetMs,
    progress: (line) => t.comment(line),
  });
  t.comment(
    `ran ${report.inputs} inputs in ${(report.durationMs / 1000).toFixed(1)} s, ` +
      `${report.journalChecks} journal checks, ${report.restarts} restarts`,
  );
  for (const [target, outcomes] of Object.entries(report.outcomes))
    t.comment(`${target}: ${JSON.stringify(outcomes)}`);
  for (const failure of report.failures) {
    t.comment(`${failure.kind} x${failure.count}: ${failure.signature}\n  ${failure.examples.join('\n  ')}`);
  }
  t.equal(report.inputs, count, 'every input ran within the time budget');
  t.same(
    report.failures.map((f) => `${f.kind}: ${f.signature} (x${f.count})`),
    [],
    'no crash, hang, wrong status, failed setup or unverifiable journal',
  );
});
