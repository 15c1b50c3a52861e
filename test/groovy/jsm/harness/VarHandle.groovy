package jsm.harness

/**
 * A global variable (vars/x.groovy) as pipelines see it: `x(args)` runs its
 * call(), `x.method()` its other methods. Records each call as a step.
 */
class VarHandle {
    final String name
    final Script script
    final List<Map> calls

    VarHandle(String name, Script script, List<Map> calls) {
        this.name = name
        this.script = script
        this.calls = calls
    }

    Object call(Object... args) {
        calls << [step: name]
        return script.invokeMethod('call', args)
    }

    def methodMissing(String method, Object args) {
        return script.invokeMethod(method, args)
    }

    def propertyMissing(String property) {
        return script.getProperty(property)
    }
}
