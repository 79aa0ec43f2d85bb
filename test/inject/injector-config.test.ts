import t from 'tap';
import { parseInjectorConfig } from '../../src/inject/injector-config.js';
import { InjectorConfigError } from '../../src/inject/injector-errors.js';

t.test('only the image is required; everything else has a default', async (t) => {
  const config = parseInjectorConfig('{"image":"pp:1"}');
  t.match(config, {
    image: 'pp:1',
    mode: 'explicit',
    proxyUid: 65532,
    proxyPort: 3128,
    controlPort: 9464,
    secrets: {
      signingKey: 'provenance-signing-key',
      controlToken: 'provenance-control-token',
      controlReadToken: null,
      storeToken: null,
    },
    store: null,
  });
});

const BAD: Array<[string, string, RegExp]> = [
  ['not JSON', '{image: pp}', /\(file\): not JSON/],
  ['no image', '{}', /image: must be a string/],
  ['an image with spaces', '{"image":"pp 1"}', /image: must be an image reference/],
  ['a typo in a field name', '{"image":"pp","secret":{}}', /secret: unknown field/],
  [
    'a typo in a nested field',
    '{"image":"pp","secrets":{"signingkey":"x"}}',
    /secrets\.signingkey: unknown field/,
  ],
  ['an unknown mode', '{"image":"pp","mode":"magic"}', /mode: must be one of explicit, transparent/],
  ['the same two ports', '{"image":"pp","proxyPort":9464}', /controlPort: must differ from proxyPort/],
  ['UID 0', '{"image":"pp","proxyUid":0}', /proxyUid: must be a whole number/],
  ['a bad Secret name', '{"image":"pp","secrets":{"controlToken":"Not_Valid"}}', /not a valid Secret name/],
  [
    'a bad read-token Secret name',
    '{"image":"pp","secrets":{"controlReadToken":"Not_Valid"}}',
    /secrets\.controlReadToken: "Not_Valid" is not a valid Secret name/,
  ],
  [
    'a store URL with credentials',
    '{"image":"pp","store":{"url":"http://u:p@store:8080","project":"b"}}',
    /must not carry credentials/,
  ],
  ['a bad policy pattern', '{"image":"pp","policy":{"tunnel":["bad host"]}}', /policy\.tunnel\[0\]/],
  [
    'a bad quantity',
    '{"image":"pp","resources":{"limits":{"memory":"lots"}}}',
    /resources\.limits\.memory: "lots" is not a quantity/,
  ],
  ['a NO_PROXY entry with a comma', '{"image":"pp","noProxy":["a,b"]}', /noProxy\[0\]/],
  ['a registry with a path', '{"image":"pp","registries":["reg.example/x"]}', /registries\[0\]/],
];

for (const [what, text, message] of BAD) {
  t.test(`rejected: ${what}`, async (t) => {
    t.throws(() => parseInjectorConfig(text), InjectorConfigError);
    try {
      parseInjectorConfig(text);
    } catch (error) {
      t.equal((error as InjectorConfigError).code, 'ERR_INJECT_CONFIG');
      t.match((error as Error).message, message);
    }
  });
}
