import { decideVote } from '../../agent/src/coordination/vote-policy';

describe('a sidecar vote from its local facts', () => {
  it('approves when nothing is wrong', () => {
    expect(decideVote({ openBreakers: [], conflicting: null, unhealthyDependencies: [] })).toEqual({
      approve: true,
      reason: 'no open breakers, no conflicting operation, dependencies healthy',
    });
  });
  it('denies naming every problem', () => {
    const v = decideVote({
      openBreakers: ['infrastructure_modification:devops'],
      conflicting: { id: 'op-1', type: 'traffic.switch' },
      unhealthyDependencies: ['haproxy: ECONNREFUSED'],
    });
    expect(v.approve).toBe(false);
    expect(v.reason).toContain('infrastructure_modification:devops');
    expect(v.reason).toContain('op-1 (traffic.switch)');
    expect(v.reason).toContain('haproxy: ECONNREFUSED');
  });
  it('one problem is enough to deny', () => {
    expect(decideVote({ openBreakers: [], conflicting: null, unhealthyDependencies: ['docker: timeout'] }).approve).toBe(false);
  });
});
