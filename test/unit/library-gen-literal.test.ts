import { groovyLiteral, groovyString } from '../../library-gen/src/groovy-literal';

describe('Groovy literals', () => {
  it('single-quotes strings so $ never interpolates, and escapes quotes, backslashes and control characters', () => {
    expect(groovyString("it's ${x} \\ done\n")).toBe("'it\\'s ${x} \\\\ done\\n'");
    expect(groovyString('a\u0001b')).toBe("'a\\u0001b'");
  });

  it('writes lists and maps, quoting keys that are not plain identifiers or are keywords', () => {
    expect(groovyLiteral({ name: 'x', default: [1, 2], 'odd-key': true, enum: null, skip: undefined })).toBe("[name: 'x', 'default': [1, 2], 'odd-key': true, 'enum': null]");
    expect(groovyLiteral({})).toBe('[:]');
    expect(groovyLiteral([])).toBe('[]');
  });

  it('refuses numbers Groovy cannot read back', () => {
    expect(() => groovyLiteral(Number.NaN)).toThrow(/cannot write NaN/);
  });
});
