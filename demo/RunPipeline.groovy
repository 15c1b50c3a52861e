// Runs ONE Jenkinsfile through the Groovy 2.4 pipeline harness (test/groovy/jsm/harness)
// and prints its console while it runs, so the demo's terminal shows the build live.
// Usage: groovy -cp HARNESS_CLASSES demo/RunPipeline.groovy SPEC.json
// SPEC: {library, installation, workspace, file, env, params, credentials, out, prefix}. OUT: result, error, stages.
// `installation`: the team's generated jenkins.yaml as test/groovy/jenkins-installation.ts reads it.
import groovy.json.JsonOutput
import groovy.json.JsonSlurperClassic
import jsm.harness.Installation
import jsm.harness.PipelineHarness
import jsm.harness.VarsLibrary

/** The harness keeps the console in memory; this one also prints each (masked) line as it is logged. */
class LiveHarness extends PipelineHarness {
    final String prefix

    LiveHarness(VarsLibrary library, Installation installation, File workspace, Map env, Map params, Map credentials, String prefix) {
        super(library, installation, workspace, env, params, credentials, [:], 300)
        this.prefix = prefix
    }

    @Override
    void log(String line) {
        super.log(line)
        synchronized (System.out) {
            System.out.println(prefix + console[-1])
            System.out.flush()
        }
    }
}

Map spec = (Map) new JsonSlurperClassic().parse(new File(args[0]))
VarsLibrary library = new VarsLibrary(new File(spec.library as String))
File file = new File(spec.file as String)
LiveHarness h = new LiveHarness(library, new Installation((Map) spec.installation), new File(spec.workspace as String), (Map) spec.env, (Map) spec.params, (Map) spec.credentials, (spec.prefix ?: '') as String)
Map r = h.run(file.getText('UTF-8'), file.name)
List stages = h.stages.collect { Map s -> [name: String.valueOf(s.name), status: String.valueOf(s.status)] }
new File(spec.out as String).setText(JsonOutput.toJson([result: r.result, error: r.error, stages: stages]), 'UTF-8')
