import t from 'tap';
import { rangeAgrees, rangeLength, uploadLocationOf } from '../../src/oci/upload-sessions.js';

const request = {
  scheme: 'https' as const,
  authority: 'registry.test:5001',
  target: '/v2/lab/app/blobs/uploads/',
};

t.test('upload Location: absolute, relative, or only Docker-Upload-UUID', async (t) => {
  const table: [string | null, string | null, { authority: string; uuid: string } | null][] = [
    [
      'https://registry.test:5000/v2/lab/app/blobs/uploads/u-1?_state=abc',
      null,
      { authority: 'registry.test:5000', uuid: 'u-1' },
    ],
    ['/v2/lab/app/blobs/uploads/u-2?_state=abc', null, { authority: 'registry.test:5001', uuid: 'u-2' }],
    ['u-3?_state=x', null, { authority: 'registry.test:5001', uuid: 'u-3' }],
    [
      'https://Registry.Test/v2/lab/app/blobs/uploads/u-4',
      null,
      { authority: 'registry.test:443', uuid: 'u-4' },
    ],
    ['/v2/lab/app/blobs/uploads/u-5/', null, { authority: 'registry.test:5001', uuid: 'u-5' }],
    ['/somewhere/else', 'u-6', { authority: 'registry.test:5001', uuid: 'u-6' }],
    [null, 'u-7', { authority: 'registry.test:5001', uuid: 'u-7' }],
    [null, null, null],
    ['/somewhere/else', null, null],
    [null, 'a/b', null],
  ];
  for (const [location, uuid, expected] of table) {
    t.same(uploadLocationOf(location, uuid, request), expected, `${location} / ${uuid}`);
  }
});

t.test('registry Range against committed bytes', async (t) => {
  t.ok(rangeAgrees('0-99', 100));
  t.ok(rangeAgrees('bytes=0-99', 100));
  t.notOk(rangeAgrees('0-98', 100));
  t.ok(rangeAgrees('0-0', 0), '0-0 is an empty session in distribution');
  t.ok(rangeAgrees(null, 5), 'no Range: nothing to check');
  t.ok(rangeAgrees('garbage', 5));
  t.equal(rangeLength('0-2097975'), 2097976);
  t.equal(rangeLength('0-0'), null, 'ambiguous');
});
