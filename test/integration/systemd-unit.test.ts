import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The unit file checked by the real `systemd-analyze verify`. It exits 0 even
 * for unknown keys and bad values and only warns, so ANY output fails.
 */
const root = join(__dirname, '..', '..');
const unitPath = join(root, 'agent', 'systemd', 'jenkins-sidecar.service');
const scratch = mkdtempSync(join(tmpdir(), 'jsm-systemd-'));

function verify(file: string): { status: number | null; output: string } {
  const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('jenkins-sidecar.service', () => {
  it('passes systemd-analyze verify without a single warning', () => {
    const r = verify(unitPath);
    expect(r.output).toBe('');
    expect(r.status).toBe(0);
  });

  it('is checked for real: a bad key in a copy is reported', () => {
    const dir = mkdtempSync(join(scratch, 'bad-'));
    const copy = join(dir, 'jenkins-sidecar.service');
    writeFileSync(copy, readFileSync(unitPath, 'utf8').replace(/^Restart=always$/m, 'Restart=always\nRestartEverything=yes'));
    expect(verify(copy).output).toContain("Unknown key 'RestartEverything'");
  });

  it('keeps the settings the sidecar relies on', () => {
    const unit = readFileSync(unitPath, 'utf8');
    for (const line of [
      'User=jenkins-sidecar',
      'Restart=always',
      'EnvironmentFile=/etc/jenkins-sidecar/sidecar.env',
      'Type=notify',
      'NotifyAccess=all',
      'WatchdogSec=30s',
      'KillMode=mixed',
      'NoNewPrivileges=yes',
      'ProtectSystem=strict',
      'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK',
    ]) {
      expect(unit.split('\n')).toContain(line);
    }
    // These would break the JIT or the docker/haproxy group access.
    expect(unit).not.toMatch(/^MemoryDenyWriteExecute=yes/m);
    expect(unit).not.toMatch(/^PrivateUsers=yes/m);
  });

  it('install.sh --root stages an env file, a 0640 tokens file with an ops token and a unit that verifies', () => {
    const dest = mkdtempSync(join(scratch, 'root-'));
    const r = spawnSync('bash', [join(root, 'agent', 'systemd', 'install.sh'), '--root', dest, '--prefix', '/opt/jenkins-selfmanage'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const unit = join(dest, 'etc', 'systemd', 'system', 'jenkins-sidecar.service');
    expect(verify(unit).output).toBe('');
    expect(readFileSync(unit, 'utf8')).toMatch(/^ExecStart=\S+node \/opt\/jenkins-selfmanage\/build\/agent\/src\/bin\/jenkins-sidecar\.js$/m);

    const tokens = join(dest, 'etc', 'jenkins-sidecar', 'tokens.yml');
    const secretFile = join(dest, 'root', 'jenkins-sidecar-ops.token');
    expect(statSync(tokens).mode & 0o777).toBe(0o640);
    expect(statSync(secretFile).mode & 0o777).toBe(0o600);
    const secret = readFileSync(secretFile, 'utf8').trim();
    expect(secret).toMatch(/^[0-9a-f]{64}$/);
    const sha = createHash('sha256').update(secret).digest('hex');
    expect(readFileSync(tokens, 'utf8')).toBe(`tokens:\n  - id: ops\n    sha256: ${sha}\n    teams: ["*"]\n`);
    expect(statSync(join(dest, 'etc', 'jenkins-sidecar', 'sidecar.env')).mode & 0o777).toBe(0o640);

    // A second run keeps the existing token and env file.
    const again = spawnSync('bash', [join(root, 'agent', 'systemd', 'install.sh'), '--root', dest], { encoding: 'utf8', timeout: 30_000 });
    expect(again.status).toBe(0);
    expect(readFileSync(secretFile, 'utf8').trim()).toBe(secret);
  });

  it('install.sh refuses a path that would not be safe in a unit file', () => {
    const dest = mkdtempSync(join(scratch, 'root-'));
    const r = spawnSync('bash', [join(root, 'agent', 'systemd', 'install.sh'), '--root', dest, '--prefix', '/opt/x y;rm'], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('must be absolute and contain only');
  });
});
