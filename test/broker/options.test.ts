// The three registry options as `run` parses them from argv and from the environment.
import t from 'tap';
import { envName, parseRunOptions, runHelp } from '../../src/config/options.js';
import { InvalidOptionError } from '../../src/errors.js';

t.test('--push-allow is repeatable, from argv or a comma list in the environment', async (t) => {
  const fromArgv = parseRunOptions(
    ['--push-allow', 'r.test:5000/team/**', '--push-allow', 'ghcr.io/org/*'],
    {},
  );
  t.same(
    fromArgv.pushAllow.map((rule) => rule.source),
    ['r.test:5000/team/**', 'ghcr.io/org/*'],
  );
  t.ok(fromArgv.pushAllow[1]?.allows('ghcr.io:443', 'org/app'));
  const fromEnv = parseRunOptions([], { [envName('push-allow')]: 'r.test:5000/a/*, r.test:5000/b/*' });
  t.equal(fromEnv.pushAllow.length, 2);
  t.same(parseRunOptions([], {}).pushAllow, [], 'none: every push allowed');
  t.throws(() => parseRunOptions(['--push-allow', 'no-repository'], {}), InvalidOptionError);
});

t.test('--attach-attestations is a switch; --registry-auth a path', async (t) => {
  t.equal(parseRunOptions([], {}).attachAttestations, false);
  t.equal(parseRunOptions(['--attach-attestations'], {}).attachAttestations, true);
  t.equal(parseRunOptions([], { [envName('attach-attestations')]: 'true' }).attachAttestations, true);
  t.throws(() => parseRunOptions([], { [envName('attach-attestations')]: 'yes' }), InvalidOptionError);
  t.equal(parseRunOptions(['--registry-auth', '/etc/x/config.json'], {}).registryAuth, '/etc/x/config.json');
  t.equal(parseRunOptions([], {}).registryAuth, null);
  t.match(runHelp(), '--push-allow');
  t.match(runHelp(), 'PROVENANCE_PROXY_REGISTRY_AUTH');
});
