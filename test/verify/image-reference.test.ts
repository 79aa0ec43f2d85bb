import t from 'tap';
import {
  formatDigestReference,
  grafeasResourceUrl,
  parseDigestReference,
  parseImageName,
} from '../../src/verify/image-reference.js';

const HEX = 'ab'.repeat(32);

t.test('parses registry with port, nested repository and digest', async (t) => {
  const ref = parseDigestReference(`registry.test:5000/lab/team/app@sha256:${HEX}`);
  t.same(ref, { registry: 'registry.test:5000', repository: 'lab/team/app', hex: HEX });
  t.equal(formatDigestReference(ref), `registry.test:5000/lab/team/app@sha256:${HEX}`);
  t.equal(grafeasResourceUrl(ref), `https://registry.test:5000/lab/team/app@sha256:${HEX}`);
});

t.test('Docker Hub aliases and official images are written the way clients write them', async (t) => {
  for (const host of ['docker.io', 'index.docker.io', 'registry-1.docker.io', 'Docker.IO']) {
    t.same(parseDigestReference(`${host}/alpine@sha256:${HEX}`), {
      registry: 'docker.io',
      repository: 'library/alpine',
      hex: HEX,
    });
  }
  t.same(parseImageName('registry-1.docker.io/library/alpine'), {
    registry: 'docker.io',
    repository: 'library/alpine',
  });
  t.same(parseImageName('localhost:5000/app'), { registry: 'localhost:5000', repository: 'app' });
  t.equal(parseImageName('no-registry'), undefined);
});

t.test('a trailing-dot registry host compares equal to the host without it', async (t) => {
  for (const host of ['registry.example.com.', 'registry.example.com']) {
    t.same(parseDigestReference(`${host}/lab/app@sha256:${HEX}`), {
      registry: 'registry.example.com',
      repository: 'lab/app',
      hex: HEX,
    });
  }
  t.same(
    parseDigestReference(`registry.example.com.:5000/app@sha256:${HEX}`).registry,
    'registry.example.com:5000',
  );
  t.same(parseImageName('registry.example.com./lab/app'), {
    registry: 'registry.example.com',
    repository: 'lab/app',
  });
});

t.test('refuses references that do not name one image by registry and digest', async (t) => {
  const bad: [string, RegExp][] = [
    ['registry.test/app:v1', /no digest/],
    [`registry.test/app@sha256:${HEX.slice(2)}`, /64 lower-case hex/],
    [`registry.test/app@sha256:${HEX.toUpperCase()}`, /64 lower-case hex/],
    [`registry.test/app@sha512:${HEX}${HEX}`, /sha256/],
    [`app@sha256:${HEX}`, /registry host/],
    [`library/app@sha256:${HEX}`, /registry host/],
    [`registry.test/App@sha256:${HEX}`, /not a valid repository/],
    [`registry.test/../etc@sha256:${HEX}`, /not a valid repository/],
    [`registry.test/app:v1@sha256:${HEX}`, /without a tag/],
  ];
  for (const [text, message] of bad) {
    t.throws(() => parseDigestReference(text), { code: 'ERR_VERIFY_REFERENCE', message }, text);
  }
});
