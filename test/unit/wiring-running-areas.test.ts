import { RunningAreas } from '../../agent/src/wiring/context';
import { processHealth } from '../../agent/src/wiring/process-health';

// The composition root's stop order: areas stop last-first; after a failed start every
// started area is stopped even when one of them fails to stop.

test('stopAll stops the areas in the reverse order they were added', async () => {
  const stopped: string[] = [];
  const areas = new RunningAreas();
  for (const name of ['data dir', 'database', 'traffic loops', 'listener']) areas.add({ stop: async () => void stopped.push(name) });
  await areas.stopAll();
  expect(stopped).toEqual(['listener', 'traffic loops', 'database', 'data dir']);
});

test('stopAll stops at the first area that fails and reports its error', async () => {
  const stopped: string[] = [];
  const areas = new RunningAreas();
  areas.add({ stop: async () => void stopped.push('database') });
  areas.add({
    stop: async () => {
      throw new Error('socket close failed');
    },
  });
  await expect(areas.stopAll()).rejects.toThrow('socket close failed');
  expect(stopped).toEqual([]);
});

test('undo stops every area last-first, past one that fails', async () => {
  const stopped: string[] = [];
  const areas = new RunningAreas();
  areas.add({ stop: async () => void stopped.push('data dir') });
  areas.add({
    stop: async () => {
      throw new Error('embedded PostgreSQL did not stop');
    },
  });
  areas.add({ stop: async () => void stopped.push('coordination') });
  await areas.undo();
  expect(stopped).toEqual(['coordination', 'data dir']);
});

test('add returns the area itself, so a caller keeps its own members', () => {
  const areas = new RunningAreas();
  const listener = { port: 8765, stop: async () => undefined };
  expect(areas.add(listener)).toBe(listener);
});

test('a process failure is remembered, told once to each listener, and to late listeners at once', () => {
  const health = processHealth();
  const early: string[] = [];
  health.onFailure((why) => early.push(why));
  expect(health.failure()).toBeNull();
  health.fail('the embedded PostgreSQL exited');
  health.fail('a second failure');
  const late: string[] = [];
  health.onFailure((why) => late.push(why));
  expect(health.failure()).toBe('the embedded PostgreSQL exited');
  expect(early).toEqual(['the embedded PostgreSQL exited']);
  expect(late).toEqual(['the embedded PostgreSQL exited']);
});
