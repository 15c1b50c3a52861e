import { METHODS } from '../../catalog/methods';
import { STEPS, stepParams } from '../../catalog/steps';

/** The step catalog against the RPC method catalog the sidecar validates with. */
describe('step catalog', () => {
  it('names steps and arguments uniquely, aliases included', () => {
    expect(new Set(STEPS.map((s) => s.name)).size).toBe(STEPS.length);
    for (const s of STEPS) {
      const all = stepParams(s).flatMap((p) => [p.name, ...(p.aliases ?? [])]);
      expect({ step: s.name, duplicates: all.filter((n, i) => all.indexOf(n) !== i) }).toEqual({ step: s.name, duplicates: [] });
      for (const p of stepParams(s)) expect(p.name).toMatch(/^[a-z][A-Za-z0-9]*$/);
    }
  });

  it('accepts the seed spellings of Pipeline A', () => {
    const sw = STEPS.find((s) => s.name === 'progressiveTrafficSwitch')!;
    const names = sw.params.flatMap((p) => [p.name, ...(p.aliases ?? [])]);
    expect(names).toEqual(expect.arrayContaining(['validation_time', 'rollback_triggers', 'validationTime', 'rollbackTriggers', 'increments', 'target']));
  });

  it('sends only params the method schema knows, with defaults it accepts', () => {
    for (const s of STEPS) {
      if (!s.rpc) continue;
      const method = METHODS.get(s.rpc);
      if (!method) continue; // areas whose schemas are not written yet are checked by the harness tests' call logs
      const shape = method.params.shape as Record<string, unknown>;
      for (const p of stepParams(s)) {
        if (p.rpc) expect({ step: s.name, param: p.rpc, known: p.rpc in shape }).toEqual({ step: s.name, param: p.rpc, known: true });
      }
      const defaults: Record<string, unknown> = { team: 'devops' };
      for (const p of stepParams(s)) if (p.rpc && 'default' in p && p.default !== null) defaults[p.rpc] = p.default;
      for (const p of stepParams(s)) if (p.rpc && p.required && !(p.rpc in defaults)) defaults[p.rpc] = p.enum ? p.enum[0] : p.type === 'environment' ? 'green' : 'x_op';
      if (s.rpc === 'traffic.switch') defaults.lockToken = 1;
      if (s.rpc === 'rollback.emergency') defaults.reason = 'a reason';
      if (s.rpc === 'state.migrate') Object.assign(defaults, { source: 'blue', target: 'green' });
      // release without operation is resolved by the step from the locks the build took.
      if (s.rpc === 'lock.release') defaults.operation = 'blue_green_switch';
      const r = method.params.safeParse(defaults);
      expect({ step: s.name, issues: r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) }).toEqual({ step: s.name, issues: [] });
    }
  });

  it('promises no longer names than the method schema (and so the store) accepts: the longest value a step pattern admits passes', () => {
    let checked = 0;
    for (const s of STEPS) {
      const method = s.rpc ? METHODS.get(s.rpc) : undefined;
      if (!method) continue;
      const shape = method.params.shape as Record<string, { safeParse(v: unknown): { success: boolean } }>;
      for (const p of stepParams(s)) {
        // Patterns of the form <first class><rest class>{0,N}: build the longest value they allow.
        const m = p.rpc && p.pattern && !p.enum ? /^\[([^\]]+)\]\[([^\]]+)\]\{0,(\d+)\}$/.exec(p.pattern) : null;
        if (!m || !p.rpc || !shape[p.rpc]) continue;
        const longest = 'a' + 'a'.repeat(Number(m[3]));
        expect({ step: s.name, param: p.rpc, length: longest.length, accepted: shape[p.rpc]!.safeParse(longest).success }).toEqual({
          step: s.name,
          param: p.rpc,
          length: longest.length,
          accepted: true,
        });
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(3);
  });
});
