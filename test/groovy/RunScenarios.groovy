// Runs many harness scenarios in one JVM (a cold Groovy start costs 1-2 s).
// Usage: groovy -cp test/groovy test/groovy/RunScenarios.groovy SPEC.json OUT.json
// SPEC: {library, workRoot, scenarios: [{name, kind: pipeline|jobdsl, file | script,
//        env, params, credentials, installation, node, build}]}. OUT: one result per
//        scenario, for jest to check. A `file` is a Jenkinsfile; a `script` runs as the
//        body of `node(<node>) { }`. `installation` is the generated jenkins.yaml as
//        test/groovy/jenkins-installation.ts reads it.
import groovy.json.JsonOutput
import groovy.json.JsonSlurperClassic
import jsm.harness.Installation
import jsm.harness.JobDsl
import jsm.harness.PipelineHarness
import jsm.harness.VarsLibrary

Map spec = (Map) new JsonSlurperClassic().parse(new File(args[0]))
VarsLibrary library = spec.library ? new VarsLibrary(new File(spec.library as String)) : null
File workRoot = new File(spec.workRoot as String)
List results = []

Object plain(Object v) {
    if (v == null || v instanceof Number || v instanceof Boolean || v instanceof String) {
        return v
    }
    if (v instanceof GString) {
        return v.toString()
    }
    if (v instanceof Map) {
        return ((Map) v).collectEntries { k, x -> [(String.valueOf(k)): plain(x)] }
    }
    if (v instanceof Collection) {
        return ((Collection) v).collect { plain(it) }
    }
    return v.toString()
}

int index = 0
for (Object o : (List) spec.scenarios) {
    Map sc = (Map) o
    String text = sc.file ? new File(sc.file as String).getText('UTF-8') : sc.script as String
    long started = System.nanoTime()
    if (sc.kind == 'jobdsl') {
        try {
            results << [name: sc.name, result: 'SUCCESS', jobs: plain(JobDsl.run(text))]
        } catch (Throwable t) {
            results << [name: sc.name, result: 'FAILURE', error: "${t.getClass().name}: ${t.message}".toString()]
        }
        continue
    }
    File ws = new File(workRoot, "ws-${index++}")
    Installation installation = new Installation((Map) sc.installation)
    PipelineHarness h = new PipelineHarness(library, installation, ws, (Map) sc.env, (Map) sc.params, (Map) sc.credentials, (Map) sc.build, (sc.shTimeoutSec ?: 300) as long)
    Map r = sc.file ? h.run(text, new File(sc.file as String).name) : h.run(text, "scenario_${index}", sc.node as String)
    results << [
        name: sc.name,
        result: r.result,
        error: r.error,
        value: plain(r.value),
        console: h.console,
        stages: plain(h.stages),
        steps: h.calls.collect { it.step },
        env: plain(h.env.baseVars()),
        libraries: h.loadedLibraries,
        options: plain(h.declared?.options ?: []),
        parametersAfter: plain(h.parametersAfterBuild()),
        workspace: ws.absolutePath,
        millis: (System.nanoTime() - started).intdiv(1000000),
    ]
}
new File(args[1]).setText(JsonOutput.toJson(results), 'UTF-8')
