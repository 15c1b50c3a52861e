package jsm.harness

/**
 * The declarative pipeline grammar as DSL objects: each block runs its closure
 * with one of these as delegate (DELEGATE_FIRST) and records what it declares.
 * Step bodies (steps, post conditions) are kept as closures and run later with
 * the script as delegate, so their calls reach the pipeline steps.
 */
class PipelineDsl {
    Object agent
    List<Map> parameters = []
    List<Map> options = []
    Map<String, Object> environment = [:]
    List<StageDsl> stages = []
    Map<String, Closure> post = [:]

    String getAny() { 'any' }
    String getNone() { 'none' }

    void agent(Object a) { agent = a instanceof Closure ? new AgentDsl().collect((Closure) a) : a }
    void parameters(Closure c) { Dsl.run(c, new ParametersDsl(list: parameters)) }
    void options(Closure c) { Dsl.run(c, new OptionsDsl(list: options)) }
    void environment(Closure c) { Dsl.run(c, new EnvironmentDsl(values: environment)) }
    void stages(Closure c) { Dsl.run(c, new StagesDsl(list: stages)) }
    void post(Closure c) { Dsl.run(c, new PostDsl(conditions: post)) }
    void triggers(Closure c) { Dsl.run(c, new OptionsDsl(list: [])) }
    void tools(Closure c) { }
}

class Dsl {
    static Object run(Closure c, Object delegate) {
        c.delegate = delegate
        c.resolveStrategy = Closure.DELEGATE_FIRST
        c.call()
        return delegate
    }
}

class AgentDsl {
    Map spec = [:]
    Map collect(Closure c) { Dsl.run(c, this); return spec }
    void label(String l) { spec.label = l }
    void node(Closure c) { spec.putAll(new AgentDsl().collect(c)) }
    void docker(Object d) { spec.docker = d }
}

class ParametersDsl {
    List<Map> list
    void choice(Map m) { list << [type: 'choice', name: m.name, choices: m.choices, description: m.description] }
    void string(Map m) { list << [type: 'string', name: m.name, defaultValue: m.defaultValue, description: m.description] }
    void text(Map m) { list << [type: 'text', name: m.name, defaultValue: m.defaultValue, description: m.description] }
    void booleanParam(Map m) { list << [type: 'boolean', name: m.name, defaultValue: m.defaultValue, description: m.description] }
}

class OptionsDsl {
    List<Map> list
    def methodMissing(String name, Object args) {
        list << [name: name, args: ((Object[]) args).toList()]
        return null
    }
}

class EnvironmentDsl extends GroovyObjectSupport {
    Map<String, Object> values
    @Override
    void setProperty(String name, Object value) { values[name] = value }
}

class StagesDsl {
    List<StageDsl> list
    void stage(String name, Closure c) {
        StageDsl s = new StageDsl(name: name)
        Dsl.run(c, s)
        list << s
    }
}

class StageDsl {
    String name
    Closure steps
    List<Closure> when = []
    Map<String, Closure> post = [:]
    void steps(Closure c) { steps = c }
    void when(Closure c) { Dsl.run(c, new WhenDsl(conditions: when)) }
    void post(Closure c) { Dsl.run(c, new PostDsl(conditions: post)) }
    Object agent
    void agent(Object a) { agent = a instanceof Closure ? new AgentDsl().collect((Closure) a) : a }
    void options(Closure c) { }
    void environment(Closure c) { throw new UnsupportedOperationException('stage-level environment is not emulated') }
    void stages(Closure c) { throw new UnsupportedOperationException('nested stages are not emulated') }
    void parallel(Closure c) { throw new UnsupportedOperationException('parallel is not emulated') }
}

/** `when` conditions as closures evaluated by the harness with the script as delegate. */
class WhenDsl {
    List<Closure> conditions
    void expression(Closure c) { conditions << c }
    void environment(Map m) { conditions << { -> env[m.name as String] == m.value } }
    void branch(String pattern) {
        String regex = pattern.collect { String ch -> ch == '*' ? '.*' : ch == '?' ? '.' : java.util.regex.Pattern.quote(ch) }.join('')
        conditions << { -> env.BRANCH_NAME != null && (env.BRANCH_NAME as String) ==~ regex }
    }
    void equals(Map m) { conditions << { -> m.expected == m.actual } }
    void not(Closure c) {
        List<Closure> inner = []
        Dsl.run(c, new WhenDsl(conditions: inner))
        conditions << { -> !WhenDsl.all(inner, delegate) }
    }
    void allOf(Closure c) {
        List<Closure> inner = []
        Dsl.run(c, new WhenDsl(conditions: inner))
        conditions << { -> WhenDsl.all(inner, delegate) }
    }
    void anyOf(Closure c) {
        List<Closure> inner = []
        Dsl.run(c, new WhenDsl(conditions: inner))
        conditions << { -> inner.any { Closure x -> WhenDsl.eval(x, delegate) } }
    }
    static boolean all(List<Closure> list, Object script) {
        return list.every { Closure x -> eval(x, script) }
    }
    static boolean eval(Closure c, Object script) {
        Closure x = (Closure) c.clone()
        x.delegate = script
        x.resolveStrategy = Closure.DELEGATE_FIRST
        return x.call() as boolean
    }
}

class PostDsl {
    Map<String, Closure> conditions
    def methodMissing(String name, Object args) {
        Object[] a = (Object[]) args
        if (!(name in PostConditions.ORDER) || a.length != 1 || !(a[0] instanceof Closure)) {
            throw new MissingMethodException(name, PostDsl, a)
        }
        conditions[name] = (Closure) a[0]
        return null
    }
}
