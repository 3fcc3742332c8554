/**
 * maskUrlPassword: the password of a URL becomes `***`, the user name stays; passwords holding `@`
 * are masked whole (the last `@` before the host separates them, as WHATWG URL parses them);
 * strings that are not valid URLs are masked too; text around URLs is kept; nothing throws.
 */
import t from 'tap';
import { maskSecrets, maskUrlPassword } from '../../agent/core/secrets.js';

t.test('one URL: the password is masked, the user name, host, port and path kept', async (t) => {
  t.equal(maskUrlPassword('mqtt://fwuser:FwPlain@127.0.0.1:1883'), 'mqtt://fwuser:***@127.0.0.1:1883');
  t.equal(maskUrlPassword('mqtts://bob:s3cret@hub:8883/x?y=1#z'), 'mqtts://bob:***@hub:8883/x?y=1#z');
  t.equal(maskUrlPassword('wss://u:p%40ss@[::1]:443/mqtt'), 'wss://u:***@[::1]:443/mqtt');
  t.equal(maskUrlPassword('mqtt://:OnlyPw@host'), 'mqtt://:***@host', 'a password without a user name');
});

t.test('a password holding @ is masked whole, as WHATWG URL reads it', async (t) => {
  const url = 'mqtt://fwuser:Fw@Pass@127.0.0.1:47994';
  t.equal(new URL(url).password, 'Fw%40Pass', 'the URL parser takes the last @ as the separator');
  t.equal(maskUrlPassword(url), 'mqtt://fwuser:***@127.0.0.1:47994');
  t.equal(maskUrlPassword('mqtt://u:a@b@c:d@host:1/p@th'), 'mqtt://u:***@host:1/p@th', 'an @ in the path is not part of the password');
  t.equal(maskUrlPassword('mqtt://u:with space "and" quotes@host:1'), 'mqtt://u:***@host:1', 'one URL: spaces and quotes can be in the password');
});

t.test('strings that are not valid URLs: the user info is masked anyway', async (t) => {
  t.throws(() => new URL('mqtt://fw:BadCfgPw@host:99999'), 'the port makes it an invalid URL');
  t.equal(maskUrlPassword('mqtt://fw:BadCfgPw@host:99999'), 'mqtt://fw:***@host:99999');
  t.equal(maskUrlPassword('mqtt://fw:Bad@Pw@ho st:x'), 'mqtt://fw:***@ho st:x');
  t.equal(maskUrlPassword('ftp://a:b@'), 'ftp://a:***@', 'no host');
});

t.test('no password: the string is kept as it is', async (t) => {
  for (const s of ['mqtt://127.0.0.1:1883', 'mqtt://user@host:1', 'mqtt://user:@host', 'mqtt://host/a:b@c', 'not a url', '', 'a@b:c', '://x:y@z', 'mqtt://', 'x://@', '::::@@@'])
    t.equal(maskUrlPassword(s), s, JSON.stringify(s));
});

t.test('URLs inside text: every password masked, the words around kept', async (t) => {
  t.equal(
    maskUrlPassword('mqtt://fwuser:Fw@Pass@127.0.0.1:47994: connection refused (nothing listening?)'),
    'mqtt://fwuser:***@127.0.0.1:47994: connection refused (nothing listening?)',
  );
  t.equal(
    maskUrlPassword('forwarders[0].url: must be a broker URL such as "mqtt://host:1883", got "mqtt://fw:Bad@CfgPw@host:99999"'),
    'forwarders[0].url: must be a broker URL such as "mqtt://host:1883", got "mqtt://fw:***@host:99999"',
  );
  t.equal(
    maskUrlPassword('{"url":"mqtt://a:p1@h1:1","err":"x","other":"mqtts://b:p@2@h2:2/t","mail":"ops@example.com"}'),
    '{"url":"mqtt://a:***@h1:1","err":"x","other":"mqtts://b:***@h2:2/t","mail":"ops@example.com"}',
  );
  t.equal(maskUrlPassword('2026-01-01 gw gridedge[1]: a mqtt://u:p@h b\nc ws://v:q@@k/x'), '2026-01-01 gw gridedge[1]: a mqtt://u:***@h b\nc ws://v:***@k/x');
});

t.test('maskSecrets walks objects and arrays and masks URL passwords in every string', async (t) => {
  t.same(maskSecrets({ a: ['mqtt://u:x@y@h:1', 2, true, null], b: { url: 'mqtt://h:1', lastError: 'mqtt://u:p@h:1: refused' } }), {
    a: ['mqtt://u:***@h:1', 2, true, null],
    b: { url: 'mqtt://h:1', lastError: 'mqtt://u:***@h:1: refused' },
  });
});
