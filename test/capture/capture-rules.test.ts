import t from 'tap';
import { captureRuleSet, diffLiveRules, resolversOf } from '../../src/capture/capture-rules.js';

const input = { proxyUid: 65532, transparentPort: 15001, resolvers: ['10.96.0.10', 'fd00::a'] };

/** What iptables-save prints once the rule set is applied (hooks first in their chains). */
function liveSave(family: 4 | 6, extraNatOutputFirst?: string): string {
  const rules = captureRuleSet(input)[family === 4 ? 'ipv4' : 'ipv6'];
  return [
    '*filter',
    ':INPUT ACCEPT [0:0]',
    '-A OUTPUT -j PP_FILTER',
    '-A FORWARD -j PP_FILTER',
    ...rules.expected.filter,
    'COMMIT',
    '*nat',
    ...(extraNatOutputFirst ? [extraNatOutputFirst] : []),
    '-A OUTPUT -j PP_OUTPUT',
    '-A PREROUTING -j PP_PREROUTING',
    ...rules.expected.nat,
    'COMMIT',
  ].join('\n');
}

t.test('the rule set is a pure function of its input, named by its hash', async (t) => {
  t.same(captureRuleSet(input), captureRuleSet(input));
  t.not(captureRuleSet(input).hash, captureRuleSet({ ...input, transparentPort: 15002 }).hash);
  t.not(captureRuleSet(input).hash, captureRuleSet({ ...input, proxyUid: 1000 }).hash);
  t.match(captureRuleSet(input).hash, /^sha256:[0-9a-f]{64}$/);
});

t.test('rows: what each family redirects, exempts and drops', async (t) => {
  const { ipv4, ipv6 } = captureRuleSet(input);
  const rows: [string, readonly string[], string][] = [
    ['v4 proxy uid exempt', ipv4.expected.nat, '-A PP_OUTPUT -m owner --uid-owner 65532 -j RETURN'],
    ['v4 loopback exempt', ipv4.expected.nat, '-A PP_OUTPUT -d 127.0.0.0/8 -j RETURN'],
    ['v4 all tcp redirected', ipv4.expected.nat, '-A PP_OUTPUT -p tcp -j REDIRECT --to-ports 15001'],
    [
      'v4 nested bridges redirected',
      ipv4.expected.nat,
      '-A PP_PREROUTING -p tcp -m addrtype ! --dst-type LOCAL -j REDIRECT --to-ports 15001',
    ],
    [
      'v4 dns to resolver',
      ipv4.expected.filter,
      '-A PP_FILTER -d 10.96.0.10/32 -p udp -m udp --dport 53 -j RETURN',
    ],
    ['v4 other udp dropped', ipv4.expected.filter, '-A PP_FILTER -p udp -j DROP'],
    ['v6 loopback exempt', ipv6.expected.nat, '-A PP_OUTPUT -d ::1/128 -j RETURN'],
    [
      'v6 dns to resolver',
      ipv6.expected.filter,
      '-A PP_FILTER -d fd00::a/128 -p udp -m udp --dport 53 -j RETURN',
    ],
    ['v6 other udp dropped', ipv6.expected.filter, '-A PP_FILTER -p udp -j DROP'],
  ];
  for (const [name, lines, line] of rows) t.ok(lines.includes(line), name);
  t.notOk(
    ipv4.expected.filter.some((l) => l.includes('fd00::a')),
    'no v6 resolver in v4 rules',
  );
  // The DROP comes after every exemption, or the exemptions would be dead.
  t.equal(ipv4.expected.filter.at(-1), '-A PP_FILTER -p udp -j DROP');
  t.equal(ipv4.expected.nat.indexOf('-A PP_OUTPUT -p tcp -j REDIRECT --to-ports 15001'), 4);
});

t.test(
  'the canary rule: ahead of the proxy UID exemption, its port named by the rest of the set',
  async (t) => {
    const rules = captureRuleSet(input);
    const line = `-A PP_OUTPUT -d 192.0.2.254/32 -p tcp -m tcp --dport ${rules.canary.port} -j REDIRECT --to-ports 15001`;
    const nat = rules.ipv4.expected.nat;
    t.ok(nat.indexOf(line) >= 0, 'the canary is redirected');
    t.ok(
      nat.indexOf(line) < nat.indexOf('-A PP_OUTPUT -m owner --uid-owner 65532 -j RETURN'),
      'the proxy UID cannot skip it',
    );
    t.ok(rules.canary.port >= 1024 && rules.canary.port < 65_024);
    t.notOk(
      rules.ipv6.expected.nat.some((l) => l.includes('192.0.2.254')),
      'IPv4 only',
    );
    // Rules made for another UID or port send the proxy's canary to another port: it never arrives.
    t.not(captureRuleSet({ ...input, proxyUid: 1000 }).canary.port, rules.canary.port);
    t.not(captureRuleSet({ ...input, transparentPort: 15002 }).canary.port, rules.canary.port);
    t.not(captureRuleSet({ ...input, resolvers: [] }).canary.port, rules.canary.port);
  },
);

t.test('--check: applied rules pass; a rule ahead of a hook or an edited chain fails', async (t) => {
  const { ipv4 } = captureRuleSet(input);
  t.same(diffLiveRules(ipv4, liveSave(4)), []);
  t.match(diffLiveRules(ipv4, liveSave(4, '-A OUTPUT -j ACCEPT')), [/nat OUTPUT: the first rule/]);
  const edited = liveSave(4).replace('-A PP_FILTER -p udp -j DROP\n', '');
  t.match(diffLiveRules(ipv4, edited), [/IPv4 filter/]);
  t.match(diffLiveRules(ipv4, ''), [/nat/, /filter/, /OUTPUT/, /PREROUTING/, /OUTPUT/, /FORWARD/]);
  // A build that slipped an extra RETURN into our chain (e.g. for its own UID) is caught.
  const slipped = liveSave(4).replace(
    '-A PP_OUTPUT -p tcp',
    '-A PP_OUTPUT -m owner --uid-owner 1000 -j RETURN\n-A PP_OUTPUT -p tcp',
  );
  t.match(diffLiveRules(ipv4, slipped), [/IPv4 nat/]);
});

t.test('resolvers come from nameserver lines only, deduplicated, zone ids dropped', async (t) => {
  t.same(
    resolversOf(
      '# c\nsearch x.svc\nnameserver 10.96.0.10\nnameserver fe80::1%eth0\nnameserver 10.96.0.10\nnameserver bogus\noptions ndots:5\n',
    ),
    ['10.96.0.10', 'fe80::1'],
  );
  t.same(resolversOf(''), []);
});
