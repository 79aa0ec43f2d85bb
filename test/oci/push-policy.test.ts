// The push policy's decision, request head by request head: which writes are refused, which
// pass, and the odd paths a hostile build would try to slip a write past the rule with.
import t from 'tap';
import { parsePushRule } from '../../src/config/push-rule.js';
import { InvalidOptionError } from '../../src/errors.js';
import { INITIAL_INTERPRETER_STATE } from '../../src/oci/interpreter.js';
import { resolveInterpreterOptions } from '../../src/oci/interpreter-options.js';
import { planExchange } from '../../src/oci/planner.js';
import { PUSH_DENIED_CODE, type PushPolicy } from '../../src/oci/push-policy.js';

const options = resolveInterpreterOptions({ manifestCaptureLimit: 1000 });
const D = `sha256:${'d'.repeat(64)}`;
const policy: PushPolicy = {
  rules: [
    parsePushRule('--push-allow', 'registry.test:5000/team/**'),
    parsePushRule('--push-allow', 'docker.io/org/app-*'),
  ],
};
const plan = (method: string, target: string, authority = 'registry.test:5000') =>
  planExchange(
    INITIAL_INTERPRETER_STATE,
    { scheme: 'https', authority, method, target, headers: {} },
    options,
    null,
    policy,
  );

t.test('every kind of write outside the rules is refused with a DENIED body naming the rules', async (t) => {
  const writes: [string, string][] = [
    ['POST', '/v2/other/app/blobs/uploads/'],
    ['POST', `/v2/other/app/blobs/uploads/?digest=${D}`],
    ['POST', `/v2/other/app/blobs/uploads/?mount=${D}&from=team/app`],
    ['PATCH', '/v2/other/app/blobs/uploads/u1'],
    ['PUT', `/v2/other/app/blobs/uploads/u1?digest=${D}`],
    ['DELETE', '/v2/other/app/blobs/uploads/u1'],
    ['PUT', '/v2/other/app/manifests/v1'],
    ['DELETE', `/v2/team/../other/manifests/${D}`],
    ['DELETE', `/v2/other/app/blobs/${D}`],
    // A repository that only starts like an allowed one, and the rule's own prefix.
    ['PUT', '/v2/teamx/app/manifests/v1'],
    ['PUT', '/v2/team/manifests/v1'],
  ];
  for (const [method, target] of writes) {
    const refusal = plan(method, target).refuse;
    t.equal(refusal?.status, 403, `${method} ${target} refused`);
    t.equal(refusal?.code, PUSH_DENIED_CODE);
    const body = JSON.parse(refusal?.body ?? '{}') as { errors: { code: string; message: string }[] };
    t.equal(body.errors[0]?.code, 'DENIED');
    t.match(body.errors[0]?.message, /registry\.test:5000\/team\/\*\*/, 'the message names the rules');
  }
});

t.test('odd paths a registry might normalise are refused when they write', async (t) => {
  for (const target of [
    '/v2/team/app/../../other/app/manifests/v1',
    '/v2/other%2Fapp/manifests/v1',
    '/v2/team//app/manifests/v1',
    '/v2/TEAM/app/manifests/v1',
  ]) {
    t.equal(plan('PUT', target).refuse?.status, 403, `PUT ${target} refused`);
  }
  t.equal(plan('GET', '/v2/other%2Fapp/manifests/v1').refuse, undefined, 'an odd read is not a push');
});

t.test('allowed writes, reads anywhere and other hosts pass untouched', async (t) => {
  t.equal(plan('POST', '/v2/team/app/blobs/uploads/').refuse, undefined);
  t.equal(plan('PUT', '/v2/team/tools/app/manifests/v1').refuse, undefined);
  t.equal(
    plan('POST', `/v2/team/app/blobs/uploads/?mount=${D}&from=other/app`).refuse,
    undefined,
    'mounting from elsewhere reads it',
  );
  t.equal(
    plan('PUT', '/v2/org/app-web/manifests/v1', 'docker.io:443').refuse,
    undefined,
    'no port means 443',
  );
  t.ok(
    plan('PUT', '/v2/org/app-web/manifests/v1', 'docker.io:5000').refuse,
    'another port is another registry',
  );
  t.ok(plan('PUT', '/v2/team/app/manifests/v1', 'registry.test:5001').refuse, 'another registry is refused');
  t.equal(plan('GET', '/v2/other/app/manifests/v1').refuse, undefined, 'pulls are not policed');
  t.equal(plan('HEAD', `/v2/other/app/blobs/${D}`).refuse, undefined);
  t.equal(plan('PUT', '/upload/file', 'files.example:443').refuse, undefined, 'not a registry request');
  const open = planExchange(
    INITIAL_INTERPRETER_STATE,
    { scheme: 'https', authority: 'r:443', method: 'PUT', target: '/v2/any/manifests/v1', headers: {} },
    options,
    null,
    null,
  );
  t.equal(open.refuse, undefined, 'no policy: every push allowed, as before');
});

t.test('malformed rules are refused at start-up with the rule in the message', async (t) => {
  for (const source of [
    'registry.test',
    'registry.test/',
    '/team/*',
    'reg istry/x',
    'registry.test:99999/x',
    'r/a//b',
  ]) {
    t.throws(() => parsePushRule('--push-allow', source), InvalidOptionError, source);
  }
});
