import { once } from 'node:events';
import net from 'node:net';
import pino from 'pino';
import t, { type Test } from 'tap';
import { type CaptureEvent, CaptureVerifier } from '../../src/capture/capture-verifier.js';
import { waitUntil } from '../support/wait-until.js';

const HASH = `sha256:${'c'.repeat(64)}`;

/**
 * A loopback stand-in for the redirect: every connection to `server` is handed to the verifier
 * as if netfilter had sent it from the canary destination (the namespace tests do it for real).
 */
async function lab(t: Test, handTo: 'verifier' | 'someone-else') {
  const events: CaptureEvent[] = [];
  let verifier: CaptureVerifier | null = null;
  const server = net.createServer((socket) => {
    if (handTo === 'verifier') verifier!.accept(socket, { port: port() });
    else socket.on('data', () => socket.write('HTTP/1.1 200 OK\r\n\r\n')).on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = () => (server.address() as net.AddressInfo).port;
  t.teardown(() => server.close());
  verifier = new CaptureVerifier({
    ruleSetHash: HASH,
    canary: { address: '127.0.0.1', port: port() },
    intervalMs: 0,
    timeoutMs: 1_000,
    onEvent: (event) => events.push(event),
    logger: pino({ level: 'silent' }),
  });
  t.teardown(() => verifier!.stop());
  const send = async (bytes: string) => {
    const socket = net.connect(port(), '127.0.0.1');
    socket.on('error', () => {});
    await once(socket, 'connect');
    socket.end(bytes);
    await once(socket, 'close');
  };
  return { verifier, events, send, port };
}

t.test('its own canary comes back: the check passes, journaled as passed', async (t) => {
  const { verifier, events } = await lab(t, 'verifier');
  const check = await verifier.check();
  t.match(check, { ok: true, ruleSetHash: HASH });
  t.match(events, [{ type: 'check', ok: true }]);
});

t.test('something else answering at the canary address is not the canary: timeout', async (t) => {
  const { verifier } = await lab(t, 'someone-else');
  t.match(await verifier.check(), { ok: false, reason: 'timeout' });
});

t.test('forgeries: wrong hash, unknown nonce, garbage, endless line; none is a check', async (t) => {
  const { events, send } = await lab(t, 'verifier');
  await send(`PPCANARY1 sha256:${'d'.repeat(64)} ${'0'.repeat(32)}\n`);
  await send(`PPCANARY1 ${HASH} ${'0'.repeat(32)}\n`);
  await send('GET / HTTP/1.1\r\n\r\n');
  await send('x'.repeat(10_000));
  await waitUntil(async () => events.length === 4, { what: 'four forgeries', attempts: 50, intervalMs: 50 });
  t.same(
    events.map((e) => (e.type === 'forged' ? e.reason : 'check')),
    ['wrong_hash', 'unknown_nonce', 'malformed', 'malformed'],
  );
});

t.test('a pile of silent connections is bounded and closed; the proxy stays able to check', async (t) => {
  const { verifier, port, events } = await lab(t, 'verifier');
  const silent = Array.from({ length: 40 }, () => net.connect(port(), '127.0.0.1').on('error', () => {}));
  t.teardown(() => {
    for (const s of silent) s.destroy();
  });
  await Promise.all(silent.map((s) => once(s, 'close')));
  t.ok(
    events.filter((e) => e.type === 'forged').length <= 16,
    'at most 16 were read at once (the rest closed unread)',
  );
  t.match(await verifier.check(), { ok: true }, 'once they are gone, the canary comes back');
});
