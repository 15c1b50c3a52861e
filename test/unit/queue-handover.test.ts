import { jobOfTaskUrl, planHandover } from '../../agent/src/traffic/queue-handover';

describe('queue handover plan', () => {
  it('names the job of a task url, folders included, and nothing for a task that is not a job', () => {
    expect(jobOfTaskUrl('http://127.0.0.1:8080/job/app/')).toBe('app');
    expect(jobOfTaskUrl('http://ci.example.com/jenkins/job/team/job/my%20app/')).toBe('team/my app');
    expect(jobOfTaskUrl('http://127.0.0.1:8080/computer/agent1/')).toBeNull();
    expect(jobOfTaskUrl(undefined)).toBeNull();
  });

  it('moves items with their parameters, keeps unparameterized ones unparameterized, leaves unreadable ones where they are', () => {
    const plan = planHandover([
      { id: 1, task: { name: 'app', url: 'http://x/job/app/' }, actions: [{ _class: 'hudson.model.ParametersAction', parameters: [{ name: 'A', value: 'a' }, { name: 'B', value: true }] }] },
      { id: 2, task: { name: 'lib', url: 'http://x/job/lib/' }, actions: [{}, null] },
      { id: 3, task: { name: 'secret', url: 'http://x/job/secret/' }, actions: [{ _class: 'hudson.model.ParametersAction', parameters: [{ name: 'PASSWORD' }] }] },
      { id: 4, task: { name: 'folder scan' } },
    ]);
    expect(plan.moves).toEqual([
      { id: 1, job: 'app', parameters: [{ name: 'A', value: 'a' }, { name: 'B', value: 'true' }] },
      { id: 2, job: 'lib', parameters: null },
    ]);
    expect(plan.left.map((l) => [l.sourceId, l.job])).toEqual([
      [3, 'secret'],
      [4, null],
    ]);
    expect(plan.left[0].why).toContain('PASSWORD');
  });
});
