package jsm.harness

/**
 * Base class of every script the harness runs (Jenkinsfiles, vars/*.groovy,
 * scenario scripts): an unknown method is a pipeline step or a global variable.
 */
abstract class PipelineScript extends Script {
    PipelineHarness getHarness() {
        return (PipelineHarness) binding.getVariable('__harness')
    }

    def methodMissing(String name, Object args) {
        return harness.invokeStep(name, (Object[]) args)
    }

    def pipeline(Closure body) {
        return harness.runDeclarative(body, this)
    }
}
