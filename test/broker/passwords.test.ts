import t from 'tap';
import { hashPassword, parseHash, verifyPassword } from '../../agent/broker/index.js';

t.test('hashPassword output verifies with the same password and not with another', async (t) => {
  const h = hashPassword('s3cret pässword');
  t.match(h, /^scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  t.ok(verifyPassword('s3cret pässword', h));
  t.notOk(verifyPassword('s3cret password', h));
  t.notOk(verifyPassword('', h));
  t.not(hashPassword('same'), hashPassword('same'), 'a fresh salt each time');
});

t.test('verifyPassword checks the RFC 7914 scrypt test vector', async (t) => {
  // RFC 7914 §12: scrypt(P="password", S="NaCl", N=1024, r=8, p=16, dkLen=64).
  const dk =
    'fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162' +
    '2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640';
  const h = `scrypt$1024$8$16$${Buffer.from('NaCl').toString('base64')}$${Buffer.from(dk, 'hex').toString('base64')}`;
  t.ok(verifyPassword('password', h));
  t.notOk(verifyPassword('Password', h));
});

t.test('malformed hashes verify nothing and parseHash names the bad part', async (t) => {
  t.notOk(verifyPassword('x', 'bcrypt$foo'));
  t.notOk(verifyPassword('x', ''));
  t.throws(() => parseHash('sha256$1$2$3$4$5'), /scrypt\$N\$r\$p/);
  t.throws(() => parseHash('scrypt$1000$8$1$c2FsdHNhbHQ=$' + Buffer.alloc(32).toString('base64')), /N must be a power of two/);
  t.throws(() => parseHash('scrypt$1024$0$1$c2FsdHNhbHQ=$' + Buffer.alloc(32).toString('base64')), /r must be/);
  t.throws(() => parseHash('scrypt$1024$8$99$c2FsdHNhbHQ=$' + Buffer.alloc(32).toString('base64')), /p must be/);
  t.throws(() => parseHash('scrypt$1024$8$1$!!!$' + Buffer.alloc(32).toString('base64')), /salt must be base64/);
  t.throws(() => parseHash('scrypt$1024$8$1$c2FsdHNhbHQ=$AAAA'), /hash must be 16 to 128 bytes/);
});
