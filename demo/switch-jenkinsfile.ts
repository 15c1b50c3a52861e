/**
 * The demo runs the generated Self-Managed-Blue-Green-Switch Jenkinsfile with
 * two values changed, and says so: a 2 s SLI window per step instead of the
 * seed's 60 s, and 3 samples per window (the sidecar's default of 20 would need
 * far more than the demo's few requests per second at the 5 % step). Everything
 * else (stages, steps, post conditions) is the generated text as is.
 */
export const DEMO_VALIDATION_SEC = 2;
export const DEMO_MIN_SAMPLES = 3;

export function demoJenkinsfile(generated: string): string {
  const pattern = /^(\s*)validation_time: \d+,$/m;
  const m = pattern.exec(generated);
  if (!m) throw new Error('the generated Jenkinsfile.self-managed-switch has no `validation_time: N,` line any more; update demo/switch-jenkinsfile.ts');
  const indent = m[1] ?? '';
  return generated.replace(pattern, `${indent}validation_time: ${DEMO_VALIDATION_SEC},\n${indent}min_samples: ${DEMO_MIN_SAMPLES},`);
}
