import { startLoad, type LoadRun } from '../support/haproxy-load';
import { RpcClient, type RpcMessage } from '../support/sidecar-process-rpc';
import type { SidecarProcess } from '../support/sidecar-process';
import { operationEnded, startTrafficStack, type TrafficStack } from '../support/traffic-stack';
import type { Team } from '../../catalog/teams-file';

/**
 * Risk 2/5 against real processes: the sidecar running a traffic.switch is
 * killed (SIGKILL) or stopped (SIGTERM) with traffic half-moved in a real
 * HAProxy, under HTTP load. After the restart (SIGKILL) or at shutdown
 * (SIGTERM) the switch ends consistently: all traffic on one side, the
 * journal says how it ended, no client request failed.
 */
jest.setTimeout(120_000);

let stack: TrafficStack;
let team: Team;
let procs: SidecarProcess[];
let load: LoadRun | null = null;
let SECRET: string;

beforeAll(async () => {
  // No sidecar yet: each case starts its own, always with the stack's one instance id (a restart recovers its switch).
  stack = await startTrafficStack({ prefix: 'fs', sidecars: 0, sidecarEnv: { SIDECAR_SHUTDOWN_GRACE_SEC: '10' } });
  ({ team, sidecars: procs, secret: SECRET } = stack);
  load = startLoad(stack.haproxy.httpPort, { connections: 4, maxSeconds: 110, rate: 200, path: `/${team.team_name}/job/load` });
});

afterAll(async () => {
  await load?.stop().catch(() => undefined);
  await stack?.stop();
});

const sidecar = (): Promise<SidecarProcess> => stack.startSidecar();

/** Starts a switch to `target` and resolves once its first intermediate step (weights applied) is reported. */
async function switchUntilHalfway(c: RpcClient, target: 'blue' | 'green'): Promise<{ operationId: string; answer: Promise<RpcMessage> }> {
  const lock = await c.call('lock.acquire', { team: team.team_name, operation: 'blue_green_switch', ttlSec: 600, owner: `fs/switch#${target}` });
  if (lock.error) throw new Error(`lock: ${lock.error.message}`);
  const answer = c.call(
    'traffic.switch',
    { team: team.team_name, target, increments: [50, 100], validationSec: 30, minSamples: 0, drainTimeoutSec: 2, lockToken: (lock.result as { token: number }).token },
    110_000,
  );
  answer.catch(() => undefined);
  const deadline = Date.now() + 30_000;
  for (let i = 0; i < 300 && Date.now() < deadline; i++) {
    const step = c.notifications.find((n) => n.params?.phase === 'step-50' && n.params?.weights);
    if (step) return { operationId: String(step.params!.operationId), answer };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no step-50 progress within 30 s: ${JSON.stringify(c.notifications.slice(-3))}`);
}

it('SIGKILL with traffic half-moved: the restarted sidecar rolls the switch back', async () => {
  const a = await sidecar();
  const c = await RpcClient.connect(a.rpcUrl, SECRET);
  const { operationId } = await switchUntilHalfway(c, 'green');
  const half = await stack.weights();
  expect(half.blue).toBeGreaterThan(0);
  expect(half.green).toBeGreaterThan(0); // really half-moved when the process dies
  await a.kill();
  c.ws.terminate();

  const a2 = await sidecar();
  const c2 = await RpcClient.connect(a2.rpcUrl, SECRET);
  try {
    const op = await operationEnded(c2, operationId, 20_000);
    expect(op.status).toBe('rolled_back');
    expect(await stack.weights()).toMatchObject({ green: 0 });
    expect((await stack.weights()).blue).toBeGreaterThan(0);
    const status = await c2.call('environment.status', { team: team.team_name });
    expect(status.result).toMatchObject({ active: 'blue', operation: null });
    await c2.call('lock.release', { team: team.team_name, operation: 'blue_green_switch', owner: 'fs/switch#green' });
  } finally {
    await c2.close();
  }
});

it('SIGTERM with traffic half-moved: the sidecar brings the switch to a safe end before it exits; no client request failed across both faults', async () => {
  const b = procs.find((p) => !p.exited()) ?? (await sidecar());
  const c = await RpcClient.connect(b.rpcUrl, SECRET);
  const { operationId, answer } = await switchUntilHalfway(c, 'green');
  const code = await b.stop(20_000);
  expect(code).toBe(0);
  const ended = await answer.catch((err: Error) => ({ error: { code: 0, message: err.message } }) as RpcMessage);
  // stop() waits (within the shutdown grace) for every call to be answered before it closes the
  // sockets, so the caller is always told: traffic went back, DEPENDENCY_DOWN, rolled_back.
  expect(ended.result).toBeUndefined();
  expect(ended.error).toMatchObject({ code: -32000, data: { code: 'DEPENDENCY_DOWN', operationStatus: 'rolled_back', operationId } });
  const w = await stack.weights();
  expect(w.green === 0 || w.blue === 0).toBe(true);

  const again = await sidecar();
  const c2 = await RpcClient.connect(again.rpcUrl, SECRET);
  try {
    const op = await operationEnded(c2, operationId, 20_000);
    expect(op.status).toBe('rolled_back');
    expect(await stack.weights()).toMatchObject({ green: 0 });
  } finally {
    await c2.close();
  }
  const totals = await load!.stop();
  load = null;
  expect(totals.requests).toBeGreaterThan(0);
  expect(totals.errors + totals.timeouts + totals.non2xx).toBe(0);
});
