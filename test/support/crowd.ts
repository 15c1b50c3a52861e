import type { Person } from './person';
import { setTimeout as pause } from 'node:timers/promises';

/**
 * People browsing through a switch: each browses (the dashboard, a form POST
 * with its crumb) and after an error signs in again, until stop(). Bounded:
 * at most `maxRounds` rounds per person, newcomers at most `max`.
 */

export interface Crowd {
  add(p: Person): void;
  stop(): Promise<void>;
}

export function crowd(maxRounds = 3000, pauseMs = 25): Crowd {
  let stopped = false;
  const loops: Promise<void>[] = [];
  return {
    add(p) {
      loops.push(
        (async () => {
          for (let i = 0; i < maxRounds && !stopped; i += 1) {
            if (!(await p.browse())) await p.signIn();
            await pause(pauseMs);
          }
        })(),
      );
    },
    async stop() {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

/** New people signing in every `everyMs` until stop(), each joining the crowd. */
export function newcomers(c: Crowd, next: () => Person, everyMs: number, max = 60): { people: Person[]; stop(): Promise<void> } {
  let stopped = false;
  const people: Person[] = [];
  const loop = (async () => {
    for (let i = 0; i < max && !stopped; i += 1) {
      const p = next();
      await p.signIn();
      people.push(p);
      c.add(p);
      await pause(everyMs);
    }
  })();
  return {
    people,
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

/** The figures of a crowd after a switch. */
export function crowdFigures(everyone: readonly Person[]): { people: number; requests: number; failedBeforeCut: number; failedAtCut: number; worstPerPerson: number } {
  return {
    people: everyone.length,
    requests: everyone.reduce((n, p) => n + p.requests, 0),
    failedBeforeCut: everyone.reduce((n, p) => n + (p.failures - p.failuresAtMove), 0),
    failedAtCut: everyone.reduce((n, p) => n + p.failuresAtMove, 0),
    worstPerPerson: everyone.length ? Math.max(...everyone.map((p) => p.failuresAtMove)) : 0,
  };
}
