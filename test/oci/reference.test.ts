import t from 'tap';
import { InvalidReferenceError, InvalidRepositoryNameError } from '../../src/oci/errors.js';
import {
  displayRegistry,
  formatDigestReference,
  formatRepository,
  formatTagReference,
  parseManifestReference,
  parseRegistryAuthority,
  parseRepositoryName,
  parseTag,
  registryKey,
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
