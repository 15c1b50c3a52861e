import { parse } from 'pg-connection-string';
import { parseDatabaseUrl } from '../../agent/src/config/database-url';

describe('SIDECAR_DATABASE_URL in libpq form', () => {
  it('several hosts with their ports, target_session_attrs, and everything else passed to pg per host', () => {
    const d = parseDatabaseUrl('postgresql://jsm:p%40ss@db1.example:5432,db2.example:5433/coord?target_session_attrs=read-write&sslmode=verify-full&application_name=x');
    expect(d.hosts).toEqual([
      { host: 'db1.example', port: 5432 },
      { host: 'db2.example', port: 5433 },
    ]);
    expect(d.targetSessionAttrs).toBe('read-write');
    expect(d.display).toBe('db1.example:5432,db2.example:5433/coord');
    const second = parse(d.forHost(d.hosts[1]!));
    expect(second).toMatchObject({ host: 'db2.example', port: '5433', user: 'jsm', password: 'p@ss', database: 'coord', application_name: 'x' });
    expect(second.ssl).toBeTruthy();
    expect(d.forHost(d.hosts[1]!)).not.toContain('target_session_attrs');
  });

  it('a host without a port takes 5432; one port= parameter applies to every host; IPv6 in brackets', () => {
    expect(parseDatabaseUrl('postgres://a,b:6000/db').hosts).toEqual([
      { host: 'a', port: 5432 },
      { host: 'b', port: 6000 },
    ]);
    const d = parseDatabaseUrl('postgresql://[::1],h2/db?port=7000');
    expect(d.hosts).toEqual([
      { host: '::1', port: 7000 },
      { host: 'h2', port: 7000 },
    ]);
    expect(parse(d.forHost(d.hosts[0]!))).toMatchObject({ host: '::1', port: '7000' });
    expect(d.display).toBe('[::1]:7000,h2:7000/db');
  });

  it('host= and port= lists as query parameters, socket directories included', () => {
    const d = parseDatabaseUrl('postgresql:///db?host=/run/pg,10.0.0.2&port=5432,5433');
    expect(d.hosts).toEqual([
      { host: '/run/pg', port: 5432 },
      { host: '10.0.0.2', port: 5433 },
    ]);
    expect(parse(d.forHost(d.hosts[0]!))).toMatchObject({ host: '/run/pg', port: '5432', database: 'db' });
    expect(parseDatabaseUrl('postgres://%2Frun%2Fpg/db').hosts).toEqual([{ host: '/run/pg', port: 5432 }]);
  });

  it('a single plain URL keeps its meaning (any)', () => {
    const d = parseDatabaseUrl('postgres://u:pw@127.0.0.1:5499/jsm');
    expect(d.targetSessionAttrs).toBe('any');
    expect(parse(d.forHost(d.hosts[0]!))).toMatchObject({ host: '127.0.0.1', port: '5499', user: 'u', password: 'pw', database: 'jsm' });
  });

  it.each([
    ['postgres://h1,h2/db?port=1,2,3', /2 hosts but 3 ports/],
    ['postgres://h1:99999/db', /port '99999'/],
    ['postgres://h1,,h2/db', /empty host/],
    ['postgres://h1/db?target_session_attrs=standby', /sidecar writes on every operation/],
    ['postgres://h1/db?target_session_attrs=sometimes', /not one of any, read-write/],
    ['mysql://h1/db', /expected postgresql:\/\//],
    ['postgres:///db', /no host/],
  ])('%s is refused with a reason', (url, why) => {
    expect(() => parseDatabaseUrl(url)).toThrow(why);
  });

  it('never echoes the password in a message', () => {
    expect(() => parseDatabaseUrl('postgres://u:secret@h1:0/db')).toThrow(/^(?!.*secret)/);
  });
});
