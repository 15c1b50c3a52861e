import { errorFileText, errorLine } from '../../agent/src/cli/ctl-output';
import { EXIT, httpBase, runSidecarctl, symbolicCode } from '../../agent/src/cli/sidecarctl';

async function run(args: string[], env: Record<string, string | undefined> = {}) {
  let out = '';
  let err = '';
  const code = await runSidecarctl(args, { env, stdout: (t) => (out += t), stderr: (t) => (err += t) });
  return { code, out, err };
}

describe('sidecarctl argument handling (no sidecar needed)', () => {
  it('exits 2 on bad JSON in --params, naming the option', async () => {
    const r = await run(['call', 'lock.acquire', '--params', '{team:'], { SIDECAR_TOKEN: 'x'.repeat(20) });
    expect(r.code).toBe(EXIT.USAGE);
    expect(r.err).toMatch(/^sidecarctl: --params is not valid JSON/);
  });

  it('exits 2 when params are not an object, or both --params and --params-file are given', async () => {
    expect((await run(['call', 'lock.acquire', '--params', '[1]'])).code).toBe(EXIT.USAGE);
    const both = await run(['call', 'lock.acquire', '--params', '{}', '--params-file', 'f.json']);
    expect(both.code).toBe(EXIT.USAGE);
    expect(both.err).toMatch(/cannot be used with/);
  });

  it('exits 2 on an unknown command, a missing argument or a bad method name', async () => {
    expect((await run(['frobnicate'])).code).toBe(EXIT.USAGE);
    expect((await run(['call'])).code).toBe(EXIT.USAGE);
    expect((await run(['call', 'not a method'])).code).toBe(EXIT.USAGE);
    expect((await run(['emergency-stop', '--team', 'devops'])).code).toBe(EXIT.USAGE);
    expect((await run(['audit', '--limit', 'many'])).code).toBe(EXIT.USAGE);
  });

  it('exits 2 on an unreadable --params-file', async () => {
    const r = await run(['call', 'lock.list', '--params-file', '/nonexistent/params.json']);
    expect(r.code).toBe(EXIT.USAGE);
    expect(r.err).toMatch(/--params-file \/nonexistent\/params.json: cannot read/);
  });

  it('exits 4 without SIDECAR_TOKEN, saying what to set', async () => {
    const r = await run(['locks'], {});
    expect(r.code).toBe(EXIT.CONNECT);
    expect(r.err).toMatch(/SIDECAR_TOKEN is not set/);
  });

  it('exits 0 for --help', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(EXIT.OK);
    expect(r.out).toMatch(/call \[options\] <method>/);
  });

  it('prints symbolic codes for domain and protocol errors', () => {
    expect(symbolicCode({ code: -32000, message: 'm', data: { code: 'LOCK_HELD' } })).toBe('LOCK_HELD');
    expect(symbolicCode({ code: -32602, message: 'm' })).toBe('INVALID_PARAMS');
    expect(symbolicCode({ code: -32601, message: 'm' })).toBe('METHOD_NOT_FOUND');
  });

  it("names a CONFLICT's reason on the error line and in the result file; passes on nothing that is not shaped like one", () => {
    const serving = { code: -32000, message: 'cannot stop devops/blue: it carries traffic', data: { code: 'CONFLICT', reason: 'target_serving' } };
    expect(errorLine(serving)).toBe('sidecarctl: CONFLICT (target_serving): cannot stop devops/blue: it carries traffic\n');
    expect(JSON.parse(errorFileText(serving))).toEqual({ error: { ...serving, symbolicCode: 'CONFLICT', reason: 'target_serving' } });
    const odd = { code: -32000, message: 'm', data: { code: 'CONFLICT', reason: 'x; rm -rf /' } };
    expect(errorLine(odd)).toBe('sidecarctl: CONFLICT: m\n');
    expect(JSON.parse(errorFileText(odd)).error.reason).toBeUndefined();
    expect(errorLine({ code: -32602, message: 'invalid params: team' })).toBe('sidecarctl: INVALID_PARAMS: invalid params: team\n');
  });

  it('derives the read API address from SIDECAR_URL', () => {
    expect(httpBase('ws://127.0.0.1:8765/rpc')).toBe('http://127.0.0.1:8765');
    expect(httpBase('wss://sidecar.example:443/rpc')).toBe('https://sidecar.example');
  });
});
