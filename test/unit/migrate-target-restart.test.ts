import { secretsTouched } from '../../agent/src/environments/target-restart';

describe('secretsTouched: which copied entries a running Jenkins cannot pick up without a restart', () => {
  test('files under secrets/ and secret.key count, sorted and once each', () => {
    expect(secretsTouched(['secrets/master.key', 'jobs/app/config.xml', 'secret.key', 'secrets/master.key', 'secrets/hudson.util.Secret'])).toEqual(['secret.key', 'secrets/hudson.util.Secret', 'secrets/master.key']);
  });

  test('the secrets directory alone, look-alike names and other files do not', () => {
    expect(secretsTouched(['secrets', 'secrets-old/master.key', 'secret.key.not-so-secret', 'users/admin/config.xml', 'jobs/secrets/config.xml'])).toEqual([]);
  });
});
