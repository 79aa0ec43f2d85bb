// The global cap on captured bytes in flight (issue 8, "bounded everything"): past the budget a
// body is still hashed and counted, never kept, and says so; the budget is given back at finish.
import { createHash, randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import t from 'tap';
import { parseRunOptions } from '../../src/config/options.js';
import { BodyTap } from '../../src/http/body-tap.js';
import { CaptureBudget } from '../../src/http/capture-budget.js';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function feed(tap: BodyTap, chunks: readonly Buffer[]): PassThrough {
  const stream = new PassThrough();
  tap.observe(stream);
  for (const chunk of chunks) stream.write(chunk);
  return stream;
}

t.test(
  'two captures in flight share one budget; the one that does not fit is hashed, not kept',
  async (t) => {
    let refused = 0;
    const budget = new CaptureBudget(1000, () => refused++);
    const first = randomBytes(700);
    const second = randomBytes(600);
    const a = new BodyTap(4096, null, budget);
    const b = new BodyTap(4096, null, budget);
    const streamA = feed(a, [first.subarray(0, 400), first.subarray(400)]);
    const streamB = feed(b, [second.subarray(0, 200), second.subarray(200)]);
    streamA.end();
    streamB.end();
    await Promise.all([streamA.resume(), streamB.resume()].map((s) => new Promise((r) => s.once('end', r))));
    t.equal(budget.inUse, 700, 'the capture that fits holds its bytes until it finishes');
    const recordB = b.finish();
    t.equal(recordB.captured, null, 'not kept');
    t.equal(recordB.captureBudgetExceeded, true, 'and says why');
    t.equal(recordB.captureOverflow, false);
    t.equal(recordB.sha256, sha256(second), 'still hashed over every byte');
    t.equal(recordB.size, 600);
    t.ok(refused >= 1, 'the refusal is counted');
    const recordA = a.finish();
    t.same(recordA.captured, first);
    t.notOk(recordA.captureBudgetExceeded);
    t.equal(budget.inUse, 0, 'finish gives the budget back');
  },
);

t.test('an overflowing or aborted capture gives its reservation back', async (t) => {
  const budget = new CaptureBudget(10_000);
  const tap = new BodyTap(500, null, budget);
  const stream = feed(tap, [randomBytes(400), randomBytes(400)]);
  stream.resume();
  await new Promise((r) => setImmediate(r));
  t.equal(budget.inUse, 0, 'past the per-body limit the kept chunks are released at once');
  t.equal(tap.finish().captureOverflow, true);

  const cut = new BodyTap(5000, null, budget);
  const cutStream = feed(cut, [randomBytes(300)]);
  cutStream.resume();
  await new Promise((r) => setImmediate(r));
  t.equal(budget.inUse, 300);
  cutStream.destroy();
  const record = cut.finish();
  t.equal(record.complete, false);
  t.equal(budget.inUse, 0, 'a cut body releases at finish too');
});

t.test(
  '--max-capture-bytes-total: default 32 MiB, its environment variable, never below one manifest',
  async (t) => {
    t.equal(parseRunOptions([], {}).maxCaptureBytesTotal, 32 * 1024 * 1024);
    t.equal(
      parseRunOptions([], { PROVENANCE_PROXY_MAX_CAPTURE_BYTES_TOTAL: '8MiB' }).maxCaptureBytesTotal,
      8 * 1024 * 1024,
    );
    t.throws(() => parseRunOptions(['--max-capture-bytes-total', '1MiB'], {}), {
      code: 'ERR_INVALID_OPTION',
      message: /at least --max-manifest-bytes/,
    });
    t.equal(
      parseRunOptions(['--max-capture-bytes-total', '1MiB', '--max-manifest-bytes', '1MiB'], {})
        .maxCaptureBytesTotal,
      1024 * 1024,
    );
  },
);
