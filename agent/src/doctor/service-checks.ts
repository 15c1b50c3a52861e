import type { SidecarConfig } from '../config/sidecar-config';
import { CheckResult, fail, ok, skip, warn } from './check-result';
import { parseDatabaseUrl } from '../config/database-url';
import { DoctorProbes, errorCode, HaproxyTarget, ReplicationFacts } from './probes';

/**
 * Checks of what the sidecar talks to: PostgreSQL (and the clock against it),
 * the HAProxy Runtime API (at admin level), the Docker engine, the running
 * sidecar itself, and versions. Each takes its probe's answer or failure and
 * says what to do.
 */

/** Locks expire on the DATABASE clock; a host far off it misreads every lease and expiry it shows. */
export const SKEW_WARN_MS = 500;
export const SKEW_FAIL_MS = 2_000;
/** Oldest PostgreSQL the store's SQL is written for. */
export const MIN_PG_VERSION_NUM = 140000;
export const MIN_NODE = [20, 11] as const;

const redactUrl = (url: string): string => {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    // Several hosts (libpq form): WHATWG URL cannot hold them; the list without user or password.
    try {
      return parseDatabaseUrl(url).display;
    } catch {
      return '(unparsable URL)';
    }
  }
};

/**
 * Whether a failover of the coordination database can lose what callers were told was written.
 * Synchronous: a commit returns once a standby has it (synchronous_standby_names, with
 * synchronous_commit on/remote_write/remote_apply), so promoting that standby loses nothing
 * acknowledged. Asynchronous: the promoted standby lacks the primary's last transactions —
 * lock grants, journal steps, audit rows — as far back as its replay lag.
 */
export function checkReplication(r: ReplicationFacts): CheckResult {
  const name = 'replication';
  const epoch = `fencing epoch ${r.timeline} (the primary's timeline: tokens stay above every earlier one after a promotion)`;
  const down = r.servers.filter((x) => x.role === 'unreachable').map((x) => `${x.hostPort} does not answer`);
  const waitsForStandby = r.synchronousStandbyNames.trim() !== '' && !['off', 'local'].includes(r.synchronousCommit);
  const sync = r.standbys.filter((x) => x.syncState === 'sync' || x.syncState === 'quorum');
  const lag = r.standbys.map((x) => `${x.name} ${x.state}, ${x.syncState}${x.replayLagSec !== null ? `, replay lag ${x.replayLagSec.toFixed(1)} s` : ''}`).join('; ');
  const extra = down.length ? `; ${down.join('; ')}` : '';
  if (r.standbys.length === 0 && !waitsForStandby) {
    return warn(
      name,
      `no standby streams from the primary: a crash of it is an outage until it is back (the sidecars move traffic to the last known good side and owe their records)${extra}; ${epoch}`,
      'for a failover, run streaming standbys (Patroni: docs/operations.md, "Running with Patroni") and list every server in SIDECAR_DATABASE_URL with ?target_session_attrs=read-write',
    );
  }
  if (waitsForStandby && sync.length === 0) {
    return fail(
      name,
      `synchronous_standby_names is '${r.synchronousStandbyNames}' but no standby is synchronous now (${lag || 'none connected'}): every commit waits, the sidecars answer DEPENDENCY_DOWN${extra}`,
      'bring a standby back, or let Patroni relax synchronous mode (synchronous_mode_strict: false)',
    );
  }
  if (waitsForStandby) {
    return ok(name, `synchronous replication (${lag}; synchronous_commit ${r.synchronousCommit}): a failover to ${sync.map((x) => x.name).join(' or ')} loses nothing a caller was told was written${extra}; ${epoch}`);
  }
  return warn(
    name,
    `asynchronous replication (${lag}): a failover can lose the primary's last acknowledged transactions — lock grants, journal steps and audit rows of about the replay lag; the sidecars re-record the operations they run and fencing tokens stay increasing, but an audit row a caller was told about can be missing${extra}; ${epoch}`,
    "to lose nothing, make replication synchronous: synchronous_standby_names = 'ANY 1 (...)' (Patroni: synchronous_mode: true)",
  );
}

export async function checkPostgres(config: SidecarConfig, probes: DoctorProbes): Promise<CheckResult[]> {
  if (!config.databaseUrl) {
    try {
      const version = probes.embeddedPostgres();
      return [
        ok('postgres', `embedded (${version}), data in ${config.dataDir}; the sidecar starts it itself`),
        skip('clock skew', 'embedded PostgreSQL runs on this host: same clock'),
      ];
    } catch (err) {
      return [fail('postgres', `embedded PostgreSQL cannot be used: ${(err as Error).message}`, 'fix the cause above, or set SIDECAR_DATABASE_URL to an external PostgreSQL')];
    }
  }
  const where = redactUrl(config.databaseUrl);
  let facts;
  try {
    facts = await probes.postgres(config.databaseUrl);
  } catch (err) {
    const code = errorCode(err);
    const message = (err as Error).message;
    const fix =
      code === 'ECONNREFUSED' || code === 'ETIMEDOUT' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH'
        ? `start PostgreSQL or correct host/port in SIDECAR_DATABASE_URL; test with: psql '${where}' -c 'select 1'`
        : code === '28P01' || code === '28000'
          ? 'the user or password in SIDECAR_DATABASE_URL is wrong, or pg_hba.conf refuses this host'
          : code === '3D000'
            ? 'the database in SIDECAR_DATABASE_URL does not exist: create it (createdb) — the sidecar creates its tables itself'
            : `check SIDECAR_DATABASE_URL and that PostgreSQL accepts connections from this host`;
    return [fail('postgres', `cannot query ${where}: ${message}${code ? ` (${code})` : ''}`, fix), skip('clock skew', 'needs the database')];
  }
  const results: CheckResult[] = [];
  const short = facts.version.split(' on ')[0];
  if (facts.versionNum < MIN_PG_VERSION_NUM) {
    results.push(fail('postgres', `${where}: ${short} is older than PostgreSQL ${MIN_PG_VERSION_NUM / 10000}`, 'upgrade the coordination database to PostgreSQL 14 or later'));
  } else {
    results.push(ok('postgres', `${where}: ${short}`));
  }
  if (facts.replication) results.push(checkReplication(facts.replication));
  const localMid = (facts.before.getTime() + facts.after.getTime()) / 2;
  const skew = facts.dbNow.getTime() - localMid;
  const rtt = facts.after.getTime() - facts.before.getTime();
  const text = `this host is ${Math.abs(Math.round(skew))} ms ${skew > 0 ? 'behind' : 'ahead of'} the database (round trip ${rtt} ms)`;
  const fix = 'synchronise this host (and the database host) with NTP: timedatectl set-ntp true, or check chronyc tracking';
  if (Math.abs(skew) > SKEW_FAIL_MS) results.push(fail('clock skew', text, fix));
  else if (Math.abs(skew) > SKEW_WARN_MS) results.push(warn('clock skew', text, fix));
  else results.push(ok('clock skew', text));
  return results;
}

const describe = (t: HaproxyTarget): string => (t.kind === 'unix' ? t.path : `${t.host}:${t.port}`);

export async function checkHaproxy(config: SidecarConfig, probes: DoctorProbes): Promise<CheckResult> {
  const name = 'haproxy';
  const target = config.haproxySocket;
  if (!target) {
    return warn(name, 'SIDECAR_HAPROXY_SOCKET is not set: the sidecar cannot move traffic', 'set SIDECAR_HAPROXY_SOCKET to the admin stats socket of haproxy.cfg (e.g. /run/haproxy/admin.sock)');
  }
  const where = describe(target);
  const socketLine = `stats socket ${target.kind === 'unix' ? target.path : `ipv4@${where}`} mode 660 level admin`;
  if (target.kind === 'unix') {
    let facts;
    try {
      facts = probes.stat(target.path);
    } catch (err) {
      return fail(name, `cannot reach ${where} (${errorCode(err) || (err as Error).message})`, `give the sidecar's user access to the directory: usermod -a -G haproxy jenkins-sidecar`);
    }
    if (!facts) {
      return fail(
        name,
        `the Runtime API socket ${where} does not exist`,
        `start haproxy (systemctl start haproxy) with this line in its global section:\n  ${socketLine}\n(the generated haproxy/haproxy.cfg has it), or correct SIDECAR_HAPROXY_SOCKET`,
      );
    }
  }
  let info: string;
  try {
    info = await probes.haproxy(target, 'show info');
  } catch (err) {
    const code = errorCode(err);
    if (code === 'EACCES') {
      return fail(name, `permission denied on ${where}`, `usermod -a -G haproxy jenkins-sidecar and set 'mode 660' on the stats socket line:\n  ${socketLine}`);
    }
    if (code === 'ECONNREFUSED') {
      return fail(name, `nothing listens on ${where} (haproxy is not running, or the socket is stale)`, 'start haproxy: systemctl start haproxy (then run the doctor again)');
    }
    return fail(name, `the Runtime API at ${where} does not answer: ${(err as Error).message}`, 'check that haproxy is running and not overloaded');
  }
  const version = /^Version: (.+)$/m.exec(info)?.[1]?.trim() ?? 'unknown version';
  let level = 'unknown';
  try {
    level = (await probes.haproxy(target, 'show cli level')).trim() || 'unknown';
  } catch {
    // older HAProxy without `show cli level`: the admin probe below still decides
  }
  // Admin level, tried for real: expert-mode only changes this one CLI session
  // and is refused with "Permission denied" below admin level.
  let adminReply: string;
  try {
    adminReply = await probes.haproxy(target, 'expert-mode on');
  } catch (err) {
    return fail(name, `the admin probe on ${where} failed: ${(err as Error).message}`, 'check that haproxy is running');
  }
  if (/permission denied/i.test(adminReply)) {
    return fail(
      name,
      `HAProxy ${version} at ${where} answers at level ${level}, not admin: the sidecar could not change weights or server states`,
      `set 'level admin' on the stats socket line in haproxy.cfg and reload haproxy:\n  ${socketLine}`,
    );
  }
  return ok(name, `HAProxy ${version} at ${where}, level admin`);
}

export async function checkDocker(config: SidecarConfig, probes: DoctorProbes): Promise<CheckResult> {
  const name = 'docker';
  const where = config.dockerHost ?? 'unix:///var/run/docker.sock';
  try {
    const d = await probes.docker(config.dockerHost);
    const managed = d.managedContainers === undefined ? '' : `, ${d.managedContainers} container(s) managed by the sidecar`;
    return ok(name, `Docker ${d.version} (API ${d.apiVersion}) at ${where}${managed}`);
  } catch (err) {
    const code = errorCode(err);
    if (code === 'EACCES') return fail(name, `permission denied on ${where}`, 'usermod -a -G docker jenkins-sidecar, then restart the sidecar (group membership is read at start)');
    if (code === 'ENOENT' || code === 'ECONNREFUSED') return fail(name, `no Docker engine at ${where} (${code})`, 'start the engine (systemctl start docker) or correct DOCKER_HOST');
    return fail(name, `Docker at ${where} does not answer: ${(err as Error).message}`, 'check the engine (docker info) and DOCKER_HOST');
  }
}

/** Whether a sidecar already runs with this configuration, and what its /readyz says. */
export async function checkRunningSidecar(config: SidecarConfig, probes: DoctorProbes): Promise<CheckResult> {
  const host = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${config.listen.port}/readyz`;
  try {
    const r = await probes.sidecar(url);
    if (r.status === 200) return ok('sidecar', `running, ${url} says ready`);
    return warn('sidecar', `running, but ${url} answers ${r.status}: ${r.body.slice(0, 300)}`, 'fix the dependency it names (see the checks above)');
  } catch (err) {
    return warn('sidecar', `no sidecar answers at ${url} (${errorCode(err) || (err as Error).message})`, 'start it: systemctl start jenkins-sidecar (journalctl -u jenkins-sidecar says why it stopped)');
  }
}

export function checkVersions(probes: DoctorProbes): CheckResult {
  const [major, minor] = probes.nodeVersion.replace(/^v/, '').split('.').map(Number);
  const text = `jenkins-selfmanage ${probes.sidecarVersion}, Node.js ${probes.nodeVersion}`;
  if (major < MIN_NODE[0] || (major === MIN_NODE[0] && minor < MIN_NODE[1])) {
    return fail('versions', `${text}: Node.js ${MIN_NODE.join('.')} or later is required`, 'install Node.js 20 LTS (e.g. Debian/NodeSource nodejs 20) and point ExecStart at it');
  }
  return ok('versions', text);
}
