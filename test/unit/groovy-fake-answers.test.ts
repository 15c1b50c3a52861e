import { METHODS } from '../../catalog/methods';
import { defaultAnswers } from '../groovy/fake-answers';

/** The Groovy harness's canned answers are answers the real sidecar could give: each parses with its method's result schema. */
describe('fake sidecar answers', () => {
  const answers = defaultAnswers('devops', 'devops/Infrastructure/Self-Managed-Blue-Green-Switch#41');

  it.each(Object.keys(answers))('%s is a valid instance of its result schema', (name) => {
    const spec = METHODS.get(name);
    expect(spec).toBeDefined();
    const parsed = spec!.result.safeParse(JSON.parse(JSON.stringify(answers[name])));
    expect(parsed.success ? [] : parsed.error.issues).toEqual([]);
  });

  it('every method of the catalog has an answer, with nothing written by hand for it', () => {
    expect([...METHODS.keys()].filter((name) => !(name in answers))).toEqual([]);
  });
});
