import { crowd, crowdFigures, newcomers as joinLater, type Crowd } from '../support/crowd';
import type { Person } from '../support/person';
import { startPeopleStack, type PeopleStack } from '../support/people-stack';

/**
 * People with cookie jars through real switches: stand-in controllers with
 * Jenkins' sessions and crumbs, the generated haproxy.cfg on a real haproxy,
 * a real jenkins-sidecar. Each person browses (the dashboard, a form POST
 * with the session's crumb) and, after an error, signs in again as the login
 * page asks. Every loop is bounded in rounds and stops with the switch.
 */
jest.setTimeout(180_000);

let stack: PeopleStack;

beforeAll(async () => {
  stack = await startPeopleStack('pp');
});
afterAll(async () => {
  await stack?.stop();
});

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const newcomers = (c: Crowd, everyMs: number): ReturnType<typeof joinLater> => joinLater(c, () => stack.person(), everyMs);

async function served(server: string): Promise<number> {
  const s = (await stack.haproxy.runtime.showStat()).find((x) => x.backend === stack.team.haproxy_backend && x.server === server);
  return s?.reqTot ?? -1;
}

test('a full switch: nobody fails before the final cut, each person at most once at it, new sessions reach green', async () => {
  const c = crowd();
  const early: Person[] = [];
  for (let i = 0; i < 12; i += 1) {
    const p = stack.person();
    await p.signIn();
    expect(p.firstAnsweredBy).toBe('blue');
    early.push(p);
    c.add(p);
  }
  const late = newcomers(c, 150);
  const answer = await stack.runSwitch('green', { increments: [25, 50, 100], validationSec: 2, sampleIntervalMs: 200, minSamples: 10, drainTimeoutSec: 5 });
  await late.stop();
  await c.stop();
  expect(answer.error).toBeUndefined();
  expect(answer.result).toMatchObject({ status: 'promoted', to: 'green' });

  const everyone = [...early, ...late.people];
  const { requests, failedBeforeCut: beforeCut, failedAtCut: atCut, worstPerPerson: worst } = crowdFigures(everyone);
  const landed = { blue: late.people.filter((p) => p.firstAnsweredBy === 'blue').length, green: late.people.filter((p) => p.firstAnsweredBy === 'green').length };
  const steps = (answer.result as { steps: Array<{ percent: number; figures: { sessionRequests: number; sessionErrors: number; synthetic: unknown } }> }).steps;
  process.stdout.write(
    `people switch: ${everyone.length} people, ${requests} requests; failed before the final cut ${beforeCut}, at it ${atCut} (at most ${worst} per person); ` +
      `new sessions during the switch: ${landed.green} on green, ${landed.blue} on blue; windows ${JSON.stringify(steps.map((s) => ({ percent: s.percent, ...s.figures })))}\n`,
  );
  expect(beforeCut).toBe(0);
  expect(worst).toBeLessThanOrEqual(1);
  for (const p of everyone) expect(p.moves).toBeLessThanOrEqual(1);
  expect(landed.green).toBeGreaterThan(0);
  // The SLI saw signed-in people on green and every window ran a passing synthetic transaction.
  expect(steps.every((s) => (s.figures.synthetic as { runs: number; failures: number }).runs >= 1 && (s.figures.synthetic as { failures: number }).failures === 0)).toBe(true);
  expect(steps.some((s) => s.figures.sessionRequests > 0)).toBe(true);
});

test('crumb refusals on the target roll the switch back with the figure; afterwards nobody, pinned or not, reaches it', async () => {
  // After the first test green serves; blue is the target and refuses crumbs: its crumb salt keeps changing.
  const c = crowd();
  for (let i = 0; i < 8; i += 1) {
    const p = stack.person();
    await p.signIn();
    c.add(p);
  }
  const late = newcomers(c, 100);
  let faulting = true;
  const fault = (async () => {
    for (let i = 0; i < 2000 && faulting; i += 1) {
      await stack.blue.control({ rotateCrumbSalt: true });
      await pause(150);
    }
  })();
  const answer = await stack.runSwitch('blue', { increments: [50, 100], validationSec: 3, sampleIntervalMs: 200, minSamples: 10, drainTimeoutSec: 5 });
  faulting = false;
  await fault;
  await late.stop();
  await c.stop();
  expect(answer.error?.data?.code).toBe('SLI_BREACH');
  const data = answer.error?.data as { figures: { errorRate: number; sessionErrors: number; sessionRequests: number }; breaches: Array<{ metric: string; value: number }> };
  process.stdout.write(`crumb breach: ${answer.error?.message}; figures ${JSON.stringify(data.figures)}\n`);
  expect(data.figures.sessionErrors).toBeGreaterThan(0);
  expect(data.breaches.map((b) => b.metric)).toContain('error_rate');

  // Pinned to blue (a browser still holding blue's affinity cookie: those who landed there at 50%
  // and five more) or new: all answered by green now, and blue answers nothing.
  const cookie = `JSM_${stack.team.team_name}`;
  const landedOnBlue = late.people.filter((p) => p.firstAnsweredBy === 'blue');
  const pinned = [...landedOnBlue, ...Array.from({ length: 5 }, () => stack.person())];
  for (const p of pinned) p.setCookie(cookie, 'blue');
  const blueBefore = await served(stack.team.environments.blue.server);
  const fresh = stack.person();
  await fresh.signIn();
  const before = new Map(pinned.map((p) => [p, p.seen.blue ?? 0]));
  for (let i = 0; i < 10; i += 1) await fresh.browse();
  for (const p of pinned) {
    p.setCookie(cookie, 'blue');
    await p.browse();
  }
  expect(fresh.seen).toEqual({ green: 20 });
  for (const p of pinned) expect(p.seen.blue ?? 0).toBe(before.get(p));
  expect(await served(stack.team.environments.blue.server)).toBe(blueBefore);
  process.stdout.write(`after the rollback: ${pinned.length} people pinned to blue (${landedOnBlue.length} had landed there) and a new one; blue answered ${(await served(stack.team.environments.blue.server)) - blueBefore} requests\n`);
});

test('too few real requests and a failing synthetic transaction is a rollback, never a pass', async () => {
  // The target no longer accepts the sidecar's API token (as after a token revoked on it): whoAmI answers 401.
  await stack.blue.control({ users: [{ name: 'sidecar', token: 'another-token' }] });
  const answer = await stack.runSwitch('blue', { increments: [50, 100], validationSec: 2, sampleIntervalMs: 200, minSamples: 1000, drainTimeoutSec: 1 });
  expect(answer.error?.data?.code).toBe('SLI_BREACH');
  const data = answer.error?.data as { breaches: Array<{ metric: string; detail?: string }> };
  expect(data.breaches[0]).toMatchObject({ metric: 'synthetic', detail: expect.stringContaining('HTTP 401') });
  process.stdout.write(`synthetic breach: ${answer.error?.message}\n`);
});
