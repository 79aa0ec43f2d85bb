import t from 'tap';
import { InvalidReferenceError, InvalidRepositoryNameError } from '../../src/oci/errors.js';
import {
  displayRegistry,
  formatDigestReference,
  formatImageName,
  formatImageReference,
  formatRepository,
  formatTagReference,
  parseImageName,
  parseImageReference,
  parseManifestReference,
  parseRegistryAuthority,
  parseRepositoryName,
  parseTag,
  registryKey,
  sameImageName,
} from '../../src/oci/reference.js';

const DIGEST = `sha256:${'c'.repeat(64)}`;

t.test('repository names follow the distribution-spec grammar', async (t) => {
  for (const name of [
    'a',
    'lab/single',
    'a/b/c/d',
    'my-app',
    'my--app',
    'my_app',
    'my__app',
    'my.app',
    'a0/b1.c2_d3-e4',
    'blobs/manifests',
  ]) {
    t.equal(parseRepositoryName(name), name, name);
  }
  const bad: [string, RegExp][] = [
    ['', /empty/],
    ['../etc', /path traversal/],
    ['lab/../secret', /path traversal/],
    ['lab/./x', /path traversal/],
    ['lab//x', /empty path component/],
    ['/lab', /empty path component/],
    ['lab/', /empty path component/],
    ['Lab/single', /uppercase/],
    ['lab/Single', /uppercase/],
    ['lab/-x', /component must match/],
    ['lab/x-', /component must match/],
    ['lab/x___y', /component must match/],
    ['lab/x..y', /component must match/],
    ['lab x', /component must match/],
    ['lab/x:1', /component must match/],
    ['a'.repeat(256), /longer than 255/],
  ];
  for (const [name, reason] of bad) {
    t.throws(
      () => parseRepositoryName(name),
      { name: 'InvalidRepositoryNameError', code: 'ERR_OCI_NAME', message: reason },
      name,
    );
  }
  t.type(new InvalidRepositoryNameError('x', 'y'), Error);
});

t.test('tags and manifest references', async (t) => {
  t.equal(parseTag('v1.0_rc-1'), 'v1.0_rc-1');
  t.equal(parseTag('_x'), '_x');
  for (const tag of ['', '-x', '.x', 'a'.repeat(129), 'a/b', 'a:b']) {
    t.throws(() => parseTag(tag), InvalidReferenceError, JSON.stringify(tag));
  }
  t.same(parseManifestReference('latest'), { kind: 'tag', tag: 'latest' });
  const byDigest = parseManifestReference(DIGEST);
  t.equal(byDigest.kind === 'digest' && byDigest.digest.value, DIGEST);
  t.throws(() => parseManifestReference('sha256:zz'), { code: 'ERR_OCI_DIGEST' });
});

t.test('registry identity is host:port as addressed; display as clients write it', async (t) => {
  const table: [string, 'http' | 'https', string, string][] = [
    ['registry.test:5000', 'https', 'registry.test:5000', 'registry.test:5000'],
    ['registry.test:5001', 'https', 'registry.test:5001', 'registry.test:5001'],
    ['Registry.Test:5000', 'https', 'registry.test:5000', 'registry.test:5000'],
    ['ghcr.io:443', 'https', 'ghcr.io:443', 'ghcr.io'],
    ['ghcr.io', 'https', 'ghcr.io:443', 'ghcr.io'],
    ['plain.test:80', 'http', 'plain.test:80', 'plain.test'],
    ['registry-1.docker.io:443', 'https', 'registry-1.docker.io:443', 'docker.io'],
    ['index.docker.io:443', 'https', 'index.docker.io:443', 'docker.io'],
    ['docker.io:443', 'https', 'docker.io:443', 'docker.io'],
    ['[::1]:5000', 'https', '[::1]:5000', '[::1]:5000'],
  ];
  for (const [authority, scheme, identity, display] of table) {
    const registry = parseRegistryAuthority(authority, scheme);
    t.equal(registry.authority, identity, `${authority} identity`);
    t.equal(registry.display, display, `${authority} display`);
  }
  t.not(
    parseRegistryAuthority('registry.test:5000').authority,
    parseRegistryAuthority('registry.test:5001').authority,
  );
  for (const bad of ['', 'a b:1', 'host:99999', 'host:0', 'user@host:1']) {
    t.throws(() => parseRegistryAuthority(bad), InvalidReferenceError, bad);
  }
  t.equal(displayRegistry('not a host'), 'not a host', 'display never throws');
});

t.test('a trailing-dot (fully-qualified) host names the same registry as without the dot', async (t) => {
  const table: [string, string, string][] = [
    ['registry.example.com.:443', 'registry.example.com:443', 'registry.example.com'],
    ['registry.example.com.', 'registry.example.com:443', 'registry.example.com'],
    ['Registry.Example.Com.:5000', 'registry.example.com:5000', 'registry.example.com:5000'],
    ['registry-1.docker.io.:443', 'registry-1.docker.io:443', 'docker.io'],
    ['[::1]:5000', '[::1]:5000', '[::1]:5000'],
  ];
  for (const [authority, identity, display] of table) {
    const registry = parseRegistryAuthority(authority);
    t.equal(registry.authority, identity, `${authority} identity`);
    t.equal(registry.display, display, `${authority} display`);
  }
  t.equal(registryKey('registry.example.com.:443'), 'registry.example.com:443');
  t.equal(registryKey('Registry.Test:5000'), 'registry.test:5000');
  t.equal(registryKey('[::1]:5000'), '[::1]:5000', 'IPv6 literals are untouched');
  t.equal(
    formatRepository('registry.example.com.:443', 'lab/app'),
    formatRepository('registry.example.com:443', 'lab/app'),
    'the subject name is the same with or without the dot',
  );
  for (const bad of ['registry.example.com..:443', '.:443']) {
    t.throws(() => parseRegistryAuthority(bad), InvalidReferenceError, `${bad}: one dot only`);
  }
});

t.test('references are formatted the way clients write them', async (t) => {
  t.equal(
    formatDigestReference('registry.test:5000', 'lab/single', DIGEST),
    `registry.test:5000/lab/single@${DIGEST}`,
  );
  t.equal(formatTagReference('registry.test:5000', 'lab/single', 'v1'), 'registry.test:5000/lab/single:v1');
  t.equal(
    formatRepository('registry-1.docker.io:443', 'alpine'),
    'docker.io/library/alpine',
    'official images get library/',
  );
  t.equal(formatRepository('registry-1.docker.io:443', 'library/alpine'), 'docker.io/library/alpine');
  t.equal(formatRepository('index.docker.io:443', 'me/app'), 'docker.io/me/app');
  t.equal(formatRepository('ghcr.io:443', 'alpine'), 'ghcr.io/alpine', 'library/ is Docker Hub only');
});

t.test(
  'one image-name grammar: parse and format round-trip, every spelling to one canonical form',
  async (t) => {
    const D = DIGEST;
    // input, canonical form, registry authority (the identity the proxy keys), repository, tag, digest
    const table: [string, string, string, string, string?, string?][] = [
      ['alpine', 'docker.io/library/alpine', 'docker.io:443', 'library/alpine'],
      ['me/app:v1', 'docker.io/me/app:v1', 'docker.io:443', 'me/app', 'v1'],
      ['docker.io/alpine', 'docker.io/library/alpine', 'docker.io:443', 'library/alpine'],
      [
        'index.docker.io/alpine:3',
        'docker.io/library/alpine:3',
        'index.docker.io:443',
        'library/alpine',
        '3',
      ],
      [
        'registry-1.docker.io/library/alpine',
        'docker.io/library/alpine',
        'registry-1.docker.io:443',
        'library/alpine',
      ],
      ['registry-1.docker.io:443/me/app', 'docker.io/me/app', 'registry-1.docker.io:443', 'me/app'],
      ['reg.test:443/x', 'reg.test/x', 'reg.test:443', 'x'],
      ['reg.test/x', 'reg.test/x', 'reg.test:443', 'x'],
      ['reg.test:80/x', 'reg.test:80/x', 'reg.test:80', 'x'],
      ['Reg.Test.:5000/lab/app', 'reg.test:5000/lab/app', 'reg.test:5000', 'lab/app'],
      ['reg.test./x', 'reg.test/x', 'reg.test:443', 'x'],
      ['ghcr.io/alpine', 'ghcr.io/alpine', 'ghcr.io:443', 'alpine'],
      ['localhost/app', 'localhost/app', 'localhost:443', 'app'],
      ['localhost:5000/app:v1', 'localhost:5000/app:v1', 'localhost:5000', 'app', 'v1'],
      ['[::1]:5000/x', '[::1]:5000/x', '[::1]:5000', 'x'],
      ['[::1]/x:v1', '[::1]/x:v1', '[::1]:443', 'x', 'v1'],
      ['[fd00::2]:5000/lab/x@' + D, '[fd00::2]:5000/lab/x@' + D, '[fd00::2]:5000', 'lab/x', undefined, D],
      ['reg.test:5000/x:tag@' + D, 'reg.test:5000/x:tag@' + D, 'reg.test:5000', 'x', 'tag', D],
      ['alpine:3@' + D, 'docker.io/library/alpine:3@' + D, 'docker.io:443', 'library/alpine', '3', D],
      ['127.0.0.1:5000/x@' + D, '127.0.0.1:5000/x@' + D, '127.0.0.1:5000', 'x', undefined, D],
    ];
    for (const [text, canonical, authority, repository, tag, digest] of table) {
      const parsed = parseImageReference(text);
      t.match(parsed, { registry: { authority }, repository, tag }, text);
      t.equal(parsed.digest?.value, digest, `${text} digest`);
      t.equal(formatImageReference(parsed), canonical, `${text} formats canonically`);
      const again = parseImageReference(canonical);
      t.equal(formatImageReference(again), canonical, `${canonical} is a fixed point`);
      t.ok(sameImageName(parsed, again), `${text} and ${canonical} name one repository`);
      if (tag === undefined && digest === undefined) {
        t.equal(formatImageName(parseImageName(text)), canonical, `${text} as a bare name`);
      }
    }
  },
);

t.test('the grammar and the statement agree: what the proxy writes is what a user types', async (t) => {
  const cases: [string, string][] = [
    ['reg.test:443', 'lab/app'],
    ['registry-1.docker.io:443', 'alpine'],
    ['index.docker.io:443', 'me/app'],
    ['registry.example.com.:443', 'lab/app'],
    ['registry.test:5000', 'lab/app'],
    ['[::1]:5000', 'x'],
  ];
  for (const [authority, repository] of cases) {
    const subject = formatRepository(authority, repository);
    t.equal(formatImageName(parseImageName(subject)), subject, `${subject} round-trips`);
    t.equal(
      formatImageReference(parseImageReference(formatDigestReference(authority, repository, DIGEST))),
      formatDigestReference(authority, repository, DIGEST),
    );
    t.equal(formatTagReference(authority, repository, 'v1'), `${subject}:v1`);
  }
  t.notOk(sameImageName(parseImageName('reg.test:8443/x'), parseImageName('reg.test/x')), 'another port');
  t.notOk(
    sameImageName(parseImageName('ghcr.io/alpine'), parseImageName('docker.io/alpine')),
    'another host',
  );
});

t.test('names the grammar refuses, each with the rule it breaks', async (t) => {
  const bad: [string, RegExp, string][] = [
    ['Alpine', /uppercase is not allowed/, 'ERR_OCI_NAME'],
    ['reg.test/Lab/app', /uppercase is not allowed/, 'ERR_OCI_NAME'],
    ['reg.test/../etc', /path traversal/, 'ERR_OCI_NAME'],
    ['reg.test/', /empty/, 'ERR_OCI_NAME'],
    ['reg.test//x', /empty path component/, 'ERR_OCI_NAME'],
    ['', /empty/, 'ERR_OCI_NAME'],
    ['reg.test/x:', /tag must match/, 'ERR_OCI_REFERENCE'],
    ['reg.test/x:-v1', /tag must match/, 'ERR_OCI_REFERENCE'],
    ['reg.test/x@sha256:zz', /sha256 must be lowercase hex/, 'ERR_OCI_DIGEST'],
    ['reg.test/x@', /algorithm:encoded/, 'ERR_OCI_DIGEST'],
    ['reg.test:0/x', /port out of range/, 'ERR_OCI_REFERENCE'],
    ['reg..test/x', /host\[:port\]/, 'ERR_OCI_REFERENCE'],
    ['user@reg.test/x', /only a digest may follow/, 'ERR_OCI_REFERENCE'],
    [`reg.test/x@${DIGEST}@${DIGEST}`, /only a digest may follow/, 'ERR_OCI_REFERENCE'],
    ['[::1/x', /host\[:port\]/, 'ERR_OCI_REFERENCE'],
    [`${'a'.repeat(300)}.test/x`, /too long/, 'ERR_OCI_REFERENCE'],
    [`${'a-'.repeat(120)}.test/x`, /host\[:port\]/, 'ERR_OCI_REFERENCE'],
    ['reg test/x', /component must match/, 'ERR_OCI_NAME'],
    [`reg.test/${'a'.repeat(256)}`, /longer than 255/, 'ERR_OCI_NAME'],
  ];
  for (const [text, message, code] of bad) {
    t.throws(() => parseImageReference(text), { code, message }, JSON.stringify(text));
  }
  t.throws(() => parseImageName('lab/app', { strict: true }), {
    code: 'ERR_OCI_REFERENCE',
    message: /registry host/,
  });
  t.throws(() => parseImageName('reg.test/x:v1'), { code: 'ERR_OCI_NAME' }, 'a name has no tag');
});
