import t from 'tap';
import { CaptureRecord } from '../../src/provenance/capture-summary.js';

const H = `sha256:${'a'.repeat(64)}`;
const pass = (at: number, ruleSetHash = H) => ({ at, ok: true, ruleSetHash });
const fail = (at: number) => ({ at, ok: false, ruleSetHash: H, reason: 'timeout' });

t.test('explicit capture never claims completeness, whatever it is told', async (t) => {
  const record = new CaptureRecord('explicit', 30_000);
  record.addCheck(pass(1));
  t.match(record.summary(), {
    mode: 'explicit',
    ruleSetHash: null,
    egressComplete: false,
    notComplete: /explicit/,
  });
});

t.test(
  'transparent: no claim before a check, a claim after, withdrawn for good by one failure',
  async (t) => {
    const record = new CaptureRecord('transparent', 30_000);
    t.match(record.summary(), { egressComplete: false, notComplete: /never verified/ });
    record.addCheck(pass(1));
    record.addCheck(pass(2));
    t.match(record.summary(), { egressComplete: true, ruleSetHash: H, checks: { passed: 2, failed: 0 } });
    t.notOk('notComplete' in record.summary());
    record.addCheck(fail(3));
    record.addCheck(pass(4));
    t.match(record.summary(), {
      egressComplete: false,
      notComplete: /check failed/,
      anomalies: [{ code: 'capture_check_failed', detail: /timeout/ }],
    });
  },
);

t.test('a restart replays the journal: a failure before it keeps the claim withdrawn', async (t) => {
  const lines = [pass(1), fail(2), pass(3)];
  const replayed = new CaptureRecord('transparent', 30_000);
  for (const line of lines) replayed.addJournaledCheck(JSON.parse(JSON.stringify(line)));
  replayed.addCheck(pass(4));
  t.equal(replayed.summary().egressComplete, false);
  t.equal(replayed.summary().checks.failed, 1);
  // Garbage in the journal is not a check.
  const clean = new CaptureRecord('transparent', 30_000);
  for (const junk of [null, 'x', { at: 'soon', ok: true }, { at: 1 }]) clean.addJournaledCheck(junk);
  t.equal(clean.summary().checks.passed + clean.summary().checks.failed, 0);
});

t.test('another rule set checked mid-build, or no periodic check, is no claim', async (t) => {
  const changed = new CaptureRecord('transparent', 30_000);
  changed.addCheck(pass(1));
  changed.addCheck(pass(2, `sha256:${'b'.repeat(64)}`));
  t.match(changed.summary(), {
    egressComplete: false,
    ruleSetHash: H,
    anomalies: [{ code: 'capture_rules_changed' }],
  });
  const once = new CaptureRecord('transparent', 0);
  once.addCheck(pass(1));
  t.match(once.summary(), { egressComplete: false, notComplete: /checks are off/ });
});

t.test('forged canaries are counted, listed up to ten, and change nothing about the claim', async (t) => {
  const record = new CaptureRecord('transparent', 30_000);
  record.addCheck(pass(1));
  for (let i = 0; i < 25; i++) record.addForged({ at: i, reason: 'unknown_nonce' });
  const summary = record.summary();
  t.equal(summary.forgedCanaries, 25);
  t.equal(summary.anomalies.length, 10);
  t.equal(summary.anomaliesOmitted, 15);
  t.equal(summary.egressComplete, true);
});
