import { EventEmitter } from 'node:events';
import { liveEventsFromBus, REPLAY_EVENTS, type OperationBusLike } from '../../agent/src/dashboard/bus-adapter';
import { emergencyStopRequest } from '../../agent/src/dashboard/emergency-request';
import { bearerToken, httpStatusFor } from '../../agent/src/dashboard/http-status';
import { LiveEvent, maySee, sseFrame } from '../../agent/src/dashboard/live-events';

const ops = { id: 'ops', teams: ['*'] };
const devops = { id: 'devops-ci', teams: ['devops'] };

describe('who sees which live event', () => {
  it('shows the ops token every team and team-less operations', () => {
    expect(maySee(ops, { team: 'platform' })).toBe(true);
    expect(maySee(ops, { team: null })).toBe(true);
  });
  it('shows a team token only its own teams', () => {
    expect(maySee(devops, { team: 'devops' })).toBe(true);
    expect(maySee(devops, { team: 'platform' })).toBe(false);
    expect(maySee(devops, { team: null })).toBe(false);
  });
});

describe('SSE framing', () => {
  it('keeps a message with newlines on one data line', () => {
    const frame = sseFrame('progress', { message: 'line one\nevent: forged\ndata: x' }, 7);
    expect(frame).toBe('id: 7\nevent: progress\ndata: {"message":"line one\\nevent: forged\\ndata: x"}\n\n');
    expect(frame.split('\n').filter((l) => l.startsWith('event:'))).toEqual(['event: progress']);
  });
  it('refuses an event name that could break the framing', () => {
    expect(() => sseFrame('progress\ndata: x', {})).toThrow(/invalid SSE event name/);
  });
});

describe('bearer token and status mapping', () => {
  it('accepts only the Bearer scheme with a token-shaped value', () => {
    expect(bearerToken('Bearer abcdefgh12345678')).toBe('abcdefgh12345678');
    expect(bearerToken('Basic abcdefgh12345678')).toBeNull();
    expect(bearerToken('Bearer short')).toBeNull();
    expect(bearerToken('Bearer has space inside')).toBeNull();
    expect(bearerToken(undefined)).toBeNull();
  });
  it('maps domain codes to HTTP statuses', () => {
    expect(httpStatusFor('UNAUTHORIZED')).toBe(401);
    expect(httpStatusFor('FORBIDDEN')).toBe(403);
    expect(httpStatusFor('NOT_FOUND')).toBe(404);
    expect(httpStatusFor('DEPENDENCY_DOWN')).toBe(503);
  });
});

describe('emergency-stop request', () => {
  it('accepts team, reason and an optional target', () => {
    expect(emergencyStopRequest.parse({ team: 'devops', reason: 'error rate climbing', target: 'blue' })).toEqual({
      team: 'devops',
      reason: 'error rate climbing',
      target: 'blue',
    });
  });
  it('rejects a bad team name, a missing reason, an unknown field and control characters', () => {
    expect(emergencyStopRequest.safeParse({ team: 'Dev Ops;', reason: 'x y z' }).success).toBe(false);
    expect(emergencyStopRequest.safeParse({ team: 'devops' }).success).toBe(false);
    expect(emergencyStopRequest.safeParse({ team: 'devops', reason: 'because', extra: 1 }).success).toBe(false);
    expect(emergencyStopRequest.safeParse({ team: 'devops', reason: 'line\nbreak' }).success).toBe(false);
    expect(emergencyStopRequest.safeParse({ team: 'devops', reason: 'ok reason', target: 'red' }).success).toBe(false);
  });
});

describe('runner bus → live events', () => {
  const clock = { now: () => new Date('2026-01-01T00:00:00Z') };

  it('names the team on progress and end events, which the bus only carries on start', () => {
    const bus = new EventEmitter();
    const live = liveEventsFromBus(bus as unknown as OperationBusLike, clock);
    const seen: LiveEvent[] = [];
    const stop = live.subscribe((e) => seen.push(e));
    bus.emit('started', { id: 'op1', type: 'traffic.switch', team: 'devops', phase: 'start', params: { target: 'green' }, startedAt: new Date('2026-01-01T00:00:00Z') });
    bus.emit('progress', { operationId: 'op1', phase: 'weights', message: '5%', weights: { blue: 95, green: 5 } });
    bus.emit('finished', { operationId: 'op1', status: 'succeeded' });
    bus.emit('progress', { operationId: 'unknown', phase: 'x', message: 'y' });
    expect(seen.map((e) => [e.kind, e.team, e.type, e.status ?? e.phase])).toEqual([
      ['operation', 'devops', 'traffic.switch', 'running'],
      ['progress', 'devops', 'traffic.switch', 'weights'],
      ['operation', 'devops', 'traffic.switch', 'succeeded'],
      ['progress', null, undefined, 'x'],
    ]);
    expect(seen[1].weights).toEqual({ blue: 95, green: 5 });
    expect(seen[1].target).toBe('green');
    stop();
    bus.emit('progress', { operationId: 'op1', phase: 'late', message: '' });
    expect(seen).toHaveLength(4);
    live.close();
    expect(bus.listenerCount('progress')).toBe(0);
  });

  it('keeps delivering to other listeners when one throws', () => {
    const bus = new EventEmitter();
    const live = liveEventsFromBus(bus as unknown as OperationBusLike, clock);
    const got: string[] = [];
    live.subscribe(() => {
      throw new Error('broken stream');
    });
    live.subscribe((e) => got.push(e.operationId));
    bus.emit('finished', { operationId: 'op2', status: 'failed', error: { code: 'SLI_BREACH', message: 'error rate 5%' } });
    expect(got).toEqual(['op2']);
    live.close();
  });

  it('numbers events and keeps the recent ones for a page that reconnects', () => {
    const bus = new EventEmitter();
    const live = liveEventsFromBus(bus as unknown as OperationBusLike, clock);
    expect(live.since(0)).toEqual([]);
    for (let i = 0; i < 3; i++) bus.emit('progress', { operationId: `op${i}`, phase: 'p', message: '' });
    expect(live.since(1)?.map((e) => [e.seq, e.operationId])).toEqual([
      [2, 'op1'],
      [3, 'op2'],
    ]);
    expect(live.since(3)).toEqual([]);
    for (let i = 0; i < REPLAY_EVENTS; i++) bus.emit('progress', { operationId: 'flood', phase: 'p', message: '' });
    // Event 2 has been dropped: the page must re-read the snapshot instead.
    expect(live.since(1)).toBeNull();
    expect(live.since(3 + REPLAY_EVENTS - 1)?.map((e) => e.seq)).toEqual([3 + REPLAY_EVENTS]);
    live.close();
  });
});
