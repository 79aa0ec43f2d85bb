import { Writable } from 'node:stream';
import pino from 'pino';
import t from 'tap';
import type { CompletedExchange } from '../../src/http/completed-exchange.js';
import { createOciStage } from '../../src/oci/oci-stage.js';
import { exchange, REGISTRY } from './exchange-builder.js';

t.test(
  'a bug on one exchange costs its observations, never the proxy; the log names only the id',
  async (t) => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const stage = createOciStage({}, pino({ level: 'error' }, sink));
    const good = exchange(stage, { method: 'GET', target: '/v2/', status: 200 });
    const broken = {
      ...good,
      id: 'broken-1',
      target: '/v2/x/blobs/uploads/u?token=s3cr3t',
      method: 'PATCH',
      status: 202,
      request: null,
    } as unknown as CompletedExchange;
    t.same(stage.accept(broken), []);
    t.equal(lines.length, 1);
    t.match(lines[0], /broken-1/);
    t.notMatch(lines[0], /s3cr3t/, 'the target is not logged');
    t.same(stage.accept(good), [], 'the stage still works');
    t.equal(stage.options.manifestCaptureLimit, 4 * 1024 * 1024);
    t.equal(stage.state().sessions.size, 0);
    t.equal(REGISTRY, good.authority);
  },
);
