/**
 * Typed records from `show stat` (CSV) and `show servers state` (space
 * separated). Columns are looked up by header name, never by index: their
 * order and number change between HAProxy versions.
 */

export interface ServerStat {
  backend: string;
  server: string;
  /** UP, DOWN, MAINT, DRAIN, NOLB, "UP 1/3" (going down), "DOWN 1/2" (going up), "no check"… */
  status: string;
  /** User-set weight (uweight), what `set server … weight` changes. */
  weight: number;
  /** Current sessions. */
  scur: number;
  reqTot: number;
  hrsp5xx: number;
  hrspOther: number;
  /** Connection errors and response errors (server closed, timeouts). */
  econ: number;
  eresp: number;
  /** Averages over the last 1024 requests, milliseconds (see sli.ts). */
  rtime: number;
  ttime: number;
  checkStatus: string;
  lastChk: string;
}

export interface ServerState {
  backendId: number;
  backend: string;
  server: string;
  address: string;
  port: number;
  /** 0 stopped, 1 starting, 2 running, 3 stopping. */
  opState: number;
  /** Bit field: 0x01 forced maint, 0x02 inherited maint, 0x08 forced drain, 0x10 inherited drain, 0x20 resolution maint. */
  adminState: number;
  weight: number;
  initialWeight: number;
}

const num = (v: string | undefined): number => {
  if (v === undefined || v === '') return 0;
  const n = Number(v);
  return Number.isFinite(n) ? n : 0;
};

/** Parses `show stat`; returns server rows only (not FRONTEND/BACKEND aggregates). */
export function parseShowStat(text: string): ServerStat[] {
  const lines = text.split('\n').filter((l) => l.length > 0);
  const headerLine = lines.find((l) => l.startsWith('# '));
  if (!headerLine) throw new Error(`show stat: no header line in ${JSON.stringify(text.slice(0, 200))}`);
  const header = headerLine.slice(2).split(',');
  const col = (name: string): number => header.indexOf(name);
  const idx = {
    pxname: col('pxname'),
    svname: col('svname'),
    status: col('status'),
    weight: col('weight'),
    uweight: col('uweight'),
    scur: col('scur'),
    reqTot: col('req_tot'),
    hrsp5xx: col('hrsp_5xx'),
    hrspOther: col('hrsp_other'),
    econ: col('econ'),
    eresp: col('eresp'),
    rtime: col('rtime'),
    ttime: col('ttime'),
    checkStatus: col('check_status'),
    lastChk: col('last_chk'),
    type: col('type'),
  };
  if (idx.pxname < 0 || idx.svname < 0 || idx.status < 0) throw new Error('show stat: header lacks pxname/svname/status');
  const out: ServerStat[] = [];
  for (const line of lines) {
    if (line.startsWith('#')) continue;
    const f = line.split(',');
    // type: 0 frontend, 1 backend, 2 server, 3 listener
    if (idx.type >= 0 ? f[idx.type] !== '2' : f[idx.svname] === 'FRONTEND' || f[idx.svname] === 'BACKEND') continue;
    const at = (i: number): string | undefined => (i >= 0 ? f[i] : undefined);
    out.push({
      backend: f[idx.pxname],
      server: f[idx.svname],
      status: f[idx.status] ?? '',
      weight: num(at(idx.uweight) !== undefined && at(idx.uweight) !== '' ? at(idx.uweight) : at(idx.weight)),
      scur: num(at(idx.scur)),
      reqTot: num(at(idx.reqTot)),
      hrsp5xx: num(at(idx.hrsp5xx)),
      hrspOther: num(at(idx.hrspOther)),
      econ: num(at(idx.econ)),
      eresp: num(at(idx.eresp)),
      rtime: num(at(idx.rtime)),
      ttime: num(at(idx.ttime)),
      checkStatus: at(idx.checkStatus) ?? '',
      lastChk: at(idx.lastChk) ?? '',
    });
  }
  return out;
}

/** Parses `show servers state` (format version 1). */
export function parseServersState(text: string): ServerState[] {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
  if (lines.length === 0) return [];
  if (lines[0] !== '1') throw new Error(`show servers state: unsupported format version ${JSON.stringify(lines[0])}`);
  const headerLine = lines.find((l) => l.startsWith('# '));
  if (!headerLine) throw new Error('show servers state: no header line');
  const header = headerLine.slice(2).split(/\s+/);
  const col = (name: string): number => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`show servers state: header lacks ${name}`);
    return i;
  };
  const c = {
    beId: col('be_id'),
    be: col('be_name'),
    srv: col('srv_name'),
    addr: col('srv_addr'),
    op: col('srv_op_state'),
    admin: col('srv_admin_state'),
    uw: col('srv_uweight'),
    iw: col('srv_iweight'),
    port: col('srv_port'),
  };
  return lines
    .slice(1)
    .filter((l) => !l.startsWith('#'))
    .map((l) => {
      const f = l.split(/\s+/);
      return {
        backendId: num(f[c.beId]),
        backend: f[c.be],
        server: f[c.srv],
        address: f[c.addr],
        port: num(f[c.port]),
        opState: num(f[c.op]),
        adminState: num(f[c.admin]),
        weight: num(f[c.uw]),
        initialWeight: num(f[c.iw]),
      };
    });
}

/** True when the server takes traffic by its health: UP (not going down), not in maint or drain. */
export function isServerUp(stat: Pick<ServerStat, 'status'>): boolean {
  return stat.status === 'UP' || stat.status === 'no check';
}

/** True when the admin state has a maint or drain flag (forced or inherited). */
export function isAdminHeld(state: Pick<ServerState, 'adminState'>): { maint: boolean; drain: boolean } {
  return { maint: (state.adminState & (0x01 | 0x02 | 0x20)) !== 0, drain: (state.adminState & (0x08 | 0x10)) !== 0 };
}
