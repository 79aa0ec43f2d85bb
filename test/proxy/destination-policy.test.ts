import type dns from 'node:dns';
import type { LookupAddress } from 'node:dns';
import { networkInterfaces } from 'node:os';
import t from 'tap';
import { parseCidr } from '../../src/config/cidr.js';
import { parseRunOptions } from '../../src/config/options.js';
import { DestinationPolicy, type DestinationRefusal } from '../../src/net/destination-policy.js';

const OWN = 3128;
const cidrs = (...texts: string[]) => texts.map((text) => parseCidr(text)!);

function policy(allow: string[] = [], lookup?: typeof dns.lookup) {
  const refused: DestinationRefusal[] = [];
  const p = new DestinationPolicy({
    allow: cidrs(...allow),
    onRefused: (r) => refused.push(r),
    ...(lookup ? { lookup } : {}),
  });
  p.protectOwnPorts([OWN, 9464], ['127.0.0.1']);
  return { p, refused };
}

t.test('addresses refused by default, IPv4 hidden in IPv6 included', async (t) => {
  const { p } = policy();
  const table: [string, string | null][] = [
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['64:ff9b::7f00:1', 'loopback'],
    ['::127.0.0.1', 'loopback'],
    ['169.254.169.254', 'link_local'],
    ['::ffff:169.254.169.254', 'link_local'],
    ['fe80::1', 'link_local'],
    ['febf::1', 'link_local'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['::', 'unspecified'],
    ['::ffff:0.0.0.0', 'unspecified'],
    ['10.0.0.1', null],
    ['172.16.0.1', null],
    ['192.168.1.1', null],
    ['100.64.0.1', null],
    ['8.8.8.8', null],
    ['fd00::1', null],
    ['2001:db8::1', null],
    ['fec0::1', null],
  ];
  for (const [address, rule] of table) t.equal(p.judge(address, 443)?.rule ?? null, rule, address);
});

t.test('--allow-destination re-opens ranges, never the proxy itself', async (t) => {
  const { p } = policy(['127.0.0.0/8', '169.254.169.254']);
  t.equal(p.judge('127.0.0.1', 443), null);
  t.equal(p.judge('::ffff:127.0.0.1', 443), null, 'the mapped form follows the IPv4 allow');
  t.equal(p.judge('169.254.169.254', 80), null);
  t.equal(p.judge('169.254.169.253', 80)?.rule, 'link_local', 'only the range given');
  t.equal(p.judge('::1', 443)?.rule, 'loopback', 'IPv6 loopback is its own range');
  t.equal(p.judge('127.0.0.1', OWN)?.rule, 'own_port');
  t.equal(p.judge('127.0.0.2', 9464)?.rule, 'own_port');
  t.equal(p.judge('0.0.0.0', OWN)?.rule, 'own_port');
  t.equal(p.judge('10.200.0.1', OWN), null, 'the same port elsewhere is someone else');
  const local = Object.values(networkInterfaces())
    .flat()
    .find((i) => i !== undefined && !i.internal && i.family === 'IPv4');
  if (local) t.equal(p.judge(local.address, OWN)?.rule, 'own_port', `this host's ${local.address}`);
  const wide = policy(['0.0.0.0/0', '::/0']).p;
  t.equal(wide.judge('127.0.0.1', 443), null);
  t.equal(wide.judge('127.0.0.1', OWN)?.rule, 'own_port');
});

t.test('names and numeric spellings are judged on what they resolve to', async (t) => {
  const { p, refused } = policy();
  for (const name of ['localhost', '0x7f.1', '2130706433', '017700000001', '0x7f000001', '127.1']) {
    t.match(await p.check(name, 443), { rule: 'loopback', address: '127.0.0.1' }, name);
  }
  t.match(await p.check('::ffff:127.0.0.1', 443), { rule: 'loopback' });
  t.equal(await p.check('no-such-host.invalid', 443), null, 'unresolvable: left to the connection');
  t.equal(await p.check('10.1.2.3', 443), null);
  t.equal(refused.length, 7, 'each refusal reported once');
  t.equal(p.checkLiteral('localhost', 443), null, 'checkLiteral leaves names to the lookup');
  t.match(p.checkLiteral('169.254.169.254', 80), { rule: 'link_local' });
});

t.test('the socket lookup refuses what resolves to a refused address, at connect time', async (t) => {
  // DNS rebinding: the name is public when checked, loopback when connected.
  let calls = 0;
  const rebinding = ((_name: string, _options: unknown, callback: (e: null, a: LookupAddress[]) => void) => {
    calls++;
    callback(null, [{ address: calls === 1 ? '10.1.2.3' : '127.0.0.1', family: 4 }]);
  }) as unknown as typeof dns.lookup;
  const { p, refused } = policy([], rebinding);
  t.equal(await p.check('rebind.test', 443), null, 'the first answer is allowed');
  const lookup = p.lookupFor(443);
  const outcome = await new Promise<{ error: NodeJS.ErrnoException | null; address: unknown }>((resolve) =>
    lookup('rebind.test', { all: true }, (error, address) => resolve({ error, address })),
  );
  t.match(outcome.error, {
    code: 'ERR_DESTINATION_REFUSED',
    rule: 'loopback',
    message: /127\.0\.0\.1:443 refused by rule loopback/,
  });
  t.equal(refused.length, 1);

  const mixed = ((_n: string, _o: unknown, callback: (e: null, a: LookupAddress[]) => void) =>
    callback(null, [
      { address: '127.0.0.1', family: 4 },
      { address: '10.9.9.9', family: 4 },
    ])) as unknown as typeof dns.lookup;
  const mixedLookup = policy([], mixed).p.lookupFor(443);
  const one = await new Promise<unknown[]>((resolve) =>
    mixedLookup('mixed.test', { all: false }, (error, address, family) => resolve([error, address, family])),
  );
  t.same(one, [null, '10.9.9.9', 4], 'only allowed addresses are handed to connect');
  const all = await new Promise<unknown>((resolve) =>
    mixedLookup('mixed.test', { all: true }, (_e, addresses) => resolve(addresses)),
  );
  t.same(all, [{ address: '10.9.9.9', family: 4 }]);
});

t.test('--allow-destination parsing, from argv and from the environment', async (t) => {
  const base = ['--data-dir', '/tmp/x'];
  t.same(
    parseRunOptions(
      [...base, '--allow-destination', '127.0.0.0/8', '--allow-destination', '::1'],
      {},
    ).allowDestination.map((c) => [c.address, c.prefix, c.family]),
    [
      ['127.0.0.0', 8, 'ipv4'],
      ['::1', 128, 'ipv6'],
    ],
  );
  t.same(
    parseRunOptions(base, {
      PROVENANCE_PROXY_ALLOW_DESTINATION: '10.0.0.0/8, fd00::/8',
    }).allowDestination.map((c) => c.source),
    ['10.0.0.0/8', 'fd00::/8'],
  );
  t.same(parseRunOptions(base, {}).allowDestination, [], 'nothing re-opened by default');
  for (const bad of ['localhost', '10.0.0.0/33', '::1/129', '10.0.0.0/', '1.2.3.4/-1', '0x7f.1/8']) {
    t.throws(
      () => parseRunOptions([...base, '--allow-destination', bad], {}),
      { code: 'ERR_INVALID_OPTION' },
      bad,
    );
  }
});
