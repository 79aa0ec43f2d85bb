import t from 'tap';
import { formatFilter, parseFilter } from '../../src/grafeas/filter.js';

const FIELDS = ['resourceUrl', 'kind', 'noteName'];

t.test('accepted filters', async (t) => {
  const cases: [string, { field: string; value: string }[]][] = [
    ['', []],
    ['   ', []],
    ['kind="BUILD"', [{ field: 'kind', value: 'BUILD' }]],
    ['kind=BUILD', [{ field: 'kind', value: 'BUILD' }]],
    [' kind = "BUILD" ', [{ field: 'kind', value: 'BUILD' }]],
    [
      'resourceUrl="https://r.test:5000/a/b@sha256:00" AND kind="BUILD"',
      [
        { field: 'resourceUrl', value: 'https://r.test:5000/a/b@sha256:00' },
        { field: 'kind', value: 'BUILD' },
      ],
    ],
    ['noteName="a\\"b\\\\c"', [{ field: 'noteName', value: 'a"b\\c' }]],
    [
      'resourceUrl=https://r.test/a@sha256:0f',
      [{ field: 'resourceUrl', value: 'https://r.test/a@sha256:0f' }],
    ],
    [
      'kind="A"\tAND\nkind="B"',
      [
        { field: 'kind', value: 'A' },
        { field: 'kind', value: 'B' },
      ],
    ],
  ];
  for (const [text, terms] of cases) t.same(parseFilter(text, FIELDS), terms, JSON.stringify(text));
});

t.test('refused filters say what this server supports', async (t) => {
  const cases: [string, RegExp][] = [
    ['colour="red"', /unsupported field "colour"; supported fields: resourceUrl, kind, noteName/],
    ['kind="A" OR kind="B"', /expected AND between terms/],
    ['kind="A" and kind="B"', /expected AND between terms/],
    ['kind="A" AND', /expected a field name/],
    ['kind="A"AND kind="B"', /expected AND between terms/],
    ['NOT kind="A"', /unsupported field "NOT"/],
    ['(kind="A")', /expected a field name/],
    ['kind:"A"', /expected "="/],
    ['kind="A', /closing quote/],
    ['kind="\\n"', /only \\" or \\\\ after a backslash/],
    ['kind=', /expected a value/],
  ];
  for (const [text, message] of cases) {
    t.throws(() => parseFilter(text, FIELDS), { status: 'INVALID_ARGUMENT', httpStatus: 400, message }, text);
  }
});

t.test('formatFilter quotes so that any value parses back to itself', async (t) => {
  const terms = [
    { field: 'resourceUrl', value: 'https://r.test/x@sha256:ab' },
    { field: 'noteName', value: 'odd "quoted" \\ value AND kind="X"' },
  ];
  const text = formatFilter(terms);
  t.equal(
    text,
    'resourceUrl="https://r.test/x@sha256:ab" AND noteName="odd \\"quoted\\" \\\\ value AND kind=\\"X\\""',
  );
  t.same(parseFilter(text, FIELDS), terms);
});
