import { createHash } from 'node:crypto';
import t from 'tap';
import { NO_PLAN, type RequestHead } from '../../src/http/completed-exchange.js';
import { INITIAL_INTERPRETER_STATE, type InterpreterState } from '../../src/oci/interpreter.js';
import { resolveInterpreterOptions } from '../../src/oci/interpreter-options.js';
import { planExchange } from '../../src/oci/planner.js';
import type { UploadSession } from '../../src/oci/upload-sessions.js';

const options = resolveInterpreterOptions({ manifestCaptureLimit: 1000 });
const D = `sha256:${'d'.repeat(64)}`;
const head = (method: string, target: string, authority = 'registry.test:5000'): RequestHead => ({
  scheme: 'https',
  authority,
  method,
  target,
  headers: {},
});

function session(
  uuid: string,
  committedBytes: number,
  hash: UploadSession['committedHash'],
  integrity: 'tracked' | 'lost' = 'tracked',
): UploadSession {
  return {
    authority: 'registry.test:5000',
    uuid,
    registry: 'registry.test:5000',
    repository: 'lab/app',
    committedBytes,
    committedHash: hash,
    committedDigest: null,
    integrity,
    lostReason: integrity === 'lost' ? 'range_disagrees' : null,
    lastActivityAt: 0,
  };
}

t.test('manifest bodies are captured up to the limit', async (t) => {
  const state = INITIAL_INTERPRETER_STATE;
  t.same(planExchange(state, head('PUT', '/v2/lab/app/manifests/v1'), options), {
    captureRequestBytes: 1000,
    captureResponseBytes: 0,
    continueRequestHash: null,
  });
  t.same(planExchange(state, head('GET', `/v2/lab/app/manifests/${D}`), options), {
    captureRequestBytes: 0,
    captureResponseBytes: 1000,
    continueRequestHash: null,
  });
  t.same(planExchange(state, head('HEAD', '/v2/lab/app/manifests/v1'), options), NO_PLAN);
  t.same(
    planExchange(state, head('GET', `/v2/lab/app/blobs/${D}`), options),
    NO_PLAN,
    'blobs stream, hashed only',
  );
  t.same(planExchange(state, head('GET', '/anything'), options), NO_PLAN);
  t.same(
    planExchange(state, head('PUT', '/v2/../x/manifests/v1'), options),
    NO_PLAN,
    'invalid routes plan nothing',
  );
});

t.test('upload bodies continue the session hash from its committed state', async (t) => {
  const committed = createHash('sha256').update('first chunk');
  const state: InterpreterState = {
    ...INITIAL_INTERPRETER_STATE,
    sessions: new Map([
      ['registry.test:5000|empty', session('empty', 0, null)],
      ['registry.test:5000|going', session('going', 11, committed)],
      ['registry.test:5000|lost', session('lost', 11, null, 'lost')],
    ]),
  };
  t.equal(
    planExchange(state, head('PATCH', '/v2/lab/app/blobs/uploads/empty?_state=a'), options)
      .continueRequestHash,
    'fresh',
  );
  t.equal(
    planExchange(state, head('PATCH', '/v2/lab/app/blobs/uploads/going?_state=b'), options)
      .continueRequestHash,
    committed,
    'the committed state itself: the hot path copies it',
  );
  t.equal(
    planExchange(state, head('PUT', `/v2/lab/app/blobs/uploads/going?digest=${D}`), options)
      .continueRequestHash,
    committed,
  );
  t.same(
    planExchange(state, head('PATCH', '/v2/lab/app/blobs/uploads/lost'), options),
    NO_PLAN,
    'nothing left to continue',
  );
  t.equal(
    planExchange(state, head('PATCH', '/v2/lab/app/blobs/uploads/unknown'), options).continueRequestHash,
    'fresh',
    'an unknown session hashes the body alone',
  );
  t.equal(
    planExchange(state, head('PATCH', '/v2/lab/app/blobs/uploads/going', 'registry.test:5001'), options)
      .continueRequestHash,
    'fresh',
    'another port is another registry',
  );
  t.equal(
    planExchange(state, head('POST', `/v2/lab/app/blobs/uploads/?digest=${D}`), options).continueRequestHash,
    'fresh',
    'monolithic',
  );
  t.same(planExchange(state, head('POST', '/v2/lab/app/blobs/uploads/'), options), NO_PLAN);
  t.same(planExchange(state, head('POST', `/v2/lab/app/blobs/uploads/?mount=${D}&from=a`), options), NO_PLAN);
});
