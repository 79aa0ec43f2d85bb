import t from 'tap';
import { InvalidOptionError } from '../../src/errors.js';

t.test('InvalidOptionError names the option and the rule', async (t) => {
  const e = new InvalidOptionError('--listen', 'must be HOST:PORT');
  t.equal(e.code, 'ERR_INVALID_OPTION');
  t.equal(e.option, '--listen');
  t.match(e.message, /--listen.*HOST:PORT/);
});
