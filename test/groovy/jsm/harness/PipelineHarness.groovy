package jsm.harness

import org.codehaus.groovy.control.CompilerConfiguration
import org.codehaus.groovy.runtime.InvokerHelper

import java.util.concurrent.TimeUnit

/**
 * A JenkinsPipelineUnit-style harness for one build: the generated vars/ are
 * global steps, the pipeline steps they use are emulated (`sh` really runs),
 * and declarative Jenkinsfiles run stage by stage with post conditions.
 * It cannot check CPS or sandbox rules; the generator keeps to those by design.
 */
class PipelineHarness {
    static CompilerConfiguration compilerConfiguration() {
        CompilerConfiguration cc = new CompilerConfiguration()
        cc.scriptBaseClass = PipelineScript.name
        return cc
    }

    final VarsLibrary library
    final File workspace
    final Map<String, String> credentials
    final List<String> console = []
    final List<Map> calls = []
    final List<Map> stages = []
    final BuildEnv env = new BuildEnv()
    final CurrentBuild currentBuild = new CurrentBuild()
    final Binding binding = new Binding()
    final Map<String, Script> vars = [:]
    final List<String> secrets = []
    final long shTimeoutSec
    File cwd
    Map params = [:]

    PipelineHarness(VarsLibrary library, File workspace, Map<String, String> envVars, Map params, Map<String, String> credentials, long shTimeoutSec = 300) {
        this.library = library
        this.workspace = workspace
        this.cwd = workspace
        this.credentials = credentials ?: [:]
        this.shTimeoutSec = shTimeoutSec
        this.params = params ?: [:]
        workspace.mkdirs()
        env.baseVars().putAll([WORKSPACE: workspace.absolutePath] + (envVars ?: [:]))
        String job = env.baseVars().JOB_NAME
        currentBuild.projectName = job ? job.tokenize('/')[-1] : 'scenario'
        currentBuild.fullProjectName = job ?: 'scenario'
        currentBuild.number = (env.baseVars().BUILD_NUMBER ?: '1') as int
        currentBuild.displayName = "#${currentBuild.number}"
        binding.setVariable('__harness', this)
        binding.setVariable('env', env)
        binding.setVariable('currentBuild', currentBuild)
        binding.setVariable('params', Collections.unmodifiableMap(this.params))
        library.vars.each { String name, Class cls ->
            Script s = InvokerHelper.createScript(cls, binding)
            vars[name] = s
            binding.setVariable(name, new VarHandle(name, s, calls))
        }
    }

    /** Runs a scripted pipeline (or a declarative one: `pipeline { }` is handled by the base class). */
    Map run(String text, String name = 'Jenkinsfile') {
        Object value = null
        Throwable failure = null
        try {
            Class cls = library.loader.parseClass(new GroovyCodeSource(text, name.replaceAll('[^A-Za-z0-9_]', '_'), '/groovy/script'))
            value = InvokerHelper.createScript(cls, binding).run()
        } catch (Throwable t) {
            failure = t
            currentBuild.result = 'FAILURE'
            log("ERROR: ${describe(t)}")
        }
        return [result: currentBuild.result ?: 'SUCCESS', value: value, error: failure ? describe(failure) : null]
    }

    static String describe(Throwable t) {
        return t instanceof PipelineError ? t.message : "${t.getClass().name}: ${t.message}"
    }

    void log(String line) {
        String masked = line
        for (String s : secrets) {
            if (s) {
                masked = masked.replace(s, '****')
            }
        }
        console << masked
    }

    // ---------- declarative ----------

    Object runDeclarative(Closure body, Script script) {
        PipelineDsl p = (PipelineDsl) Dsl.run(body, new PipelineDsl())
        Map effective = [:]
        for (Map def_ : p.parameters) {
            String n = def_.name as String
            if (params.containsKey(n)) {
                effective[n] = params[n]
            } else if (def_.type == 'choice') {
                effective[n] = (def_.choices as List)[0]
            } else if (def_.type == 'boolean') {
                effective[n] = def_.defaultValue ?: false
            } else {
                effective[n] = def_.defaultValue ?: ''
            }
        }
        params.each { k, v -> if (!effective.containsKey(k)) { effective[k] = v } }
        binding.setVariable('params', Collections.unmodifiableMap(effective))
        p.environment.each { k, v -> env.setProperty(k, v) }
        Throwable failure = null
        for (StageDsl stage : p.stages) {
            if (failure != null) {
                stages << [name: stage.name, status: 'skipped (earlier failure)']
                continue
            }
            if (stage.when && !stage.when.every { Closure c -> WhenDsl.eval(c, script) }) {
                stages << [name: stage.name, status: 'skipped (when)']
                continue
            }
            log("[Pipeline] stage (${stage.name})")
            try {
                runBody(stage.steps, script)
                stages << [name: stage.name, status: 'success']
            } catch (Throwable t) {
                failure = t
                currentBuild.result = 'FAILURE'
                stages << [name: stage.name, status: 'failed', error: describe(t)]
                log("ERROR: ${describe(t)}")
            }
            runPost(stage.post, script, "stage ${stage.name}")
        }
        runPost(p.post, script, 'pipeline')
        if (failure != null && !(failure instanceof PipelineError)) {
            // An unexpected exception (a bug in a step) must not look like a clean failure.
            stages << [name: 'harness', status: 'exception', error: describe(failure)]
        }
        return null
    }

    private void runPost(Map<String, Closure> post, Script script, String where) {
        for (String condition : PostDsl.ORDER) {
            Closure c = post[condition]
            if (c == null || !postApplies(condition)) {
                continue
            }
            log("[Pipeline] post (${where}: ${condition})")
            try {
                runBody(c, script)
                stages << [name: "post ${condition}", status: 'success']
            } catch (Throwable t) {
                currentBuild.result = 'FAILURE'
                stages << [name: "post ${condition}", status: 'failed', error: describe(t)]
                log("ERROR: ${describe(t)}")
            }
        }
    }

    private boolean postApplies(String condition) {
        String r = currentBuild.result
        switch (condition) {
            case 'always':
            case 'cleanup':
                return true
            case 'failure':
                return r == 'FAILURE'
            case 'success':
                return r == null || r == 'SUCCESS'
            case 'unstable':
                return r == 'UNSTABLE'
            case 'aborted':
                return r == 'ABORTED'
            case 'unsuccessful':
                return r != null && r != 'SUCCESS'
            default:
                return false
        }
    }

    private static Object runBody(Closure c, Object delegate) {
        Closure x = (Closure) c.clone()
        x.delegate = delegate
        x.resolveStrategy = Closure.DELEGATE_FIRST
        return x.call()
    }

    // ---------- steps ----------

    Object invokeStep(String name, Object[] args) {
        Script var = vars[name]
        if (var != null) {
            return ((VarHandle) binding.getVariable(name)).call(args)
        }
        calls << [step: name]
        switch (name) {
            case 'echo':
                log(String.valueOf(args[0]))
                return null
            case 'error':
                throw new PipelineError(String.valueOf(args[0]))
            case 'sh':
                return sh(args[0] instanceof Map ? (Map) args[0] : [script: String.valueOf(args[0])])
            case 'writeFile':
                File f = file(((Map) args[0]).file as String)
                f.parentFile.mkdirs()
                f.setText(((Map) args[0]).text as String, 'UTF-8')
                return null
            case 'readFile':
                String path = args[0] instanceof Map ? ((Map) args[0]).file : String.valueOf(args[0])
                File rf = file(path)
                if (!rf.isFile()) {
                    throw new PipelineError("${path} does not exist (readFile in ${cwd})")
                }
                return rf.getText('UTF-8')
            case 'fileExists':
                return file(args[0] instanceof Map ? ((Map) args[0]).file as String : String.valueOf(args[0])).exists()
            case 'pwd':
                return cwd.absolutePath
            case 'isUnix':
                return true
            case 'libraryResource':
                String res = args[0] instanceof Map ? ((Map) args[0]).resource : String.valueOf(args[0])
                File lr = new File(library.dir, "resources/${res}")
                if (!lr.isFile()) {
                    throw new PipelineError("No such library resource ${res} could be found.")
                }
                return lr.getText('UTF-8')
            case 'string':
                Map m = (Map) args[0]
                return [kind: 'string', credentialsId: m.credentialsId, variable: m.variable]
            case 'withCredentials':
                return withCredentials((List) args[0], (Closure) args[1])
            case 'withEnv':
                return withEnv((List) args[0], (Closure) args[1])
            case 'script':
            case 'timestamps':
                return ((Closure) args[-1]).call()
            case 'timeout':
                return ((Closure) args[-1]).call()
            case 'dir':
                File before = cwd
                cwd = file(String.valueOf(args[0]))
                cwd.mkdirs()
                try {
                    return ((Closure) args[1]).call()
                } finally {
                    cwd = before
                }
            case 'sleep':
                long sec = args[0] instanceof Map ? ((Map) args[0]).time as long : args[0] as long
                Thread.sleep(Math.min(sec, 5L) * 1000L)
                return null
            default:
                throw new MissingMethodException(name, PipelineScript, args)
        }
    }

    File file(String path) {
        File f = new File(path)
        return f.isAbsolute() ? f : new File(cwd, path)
    }

    private Object withCredentials(List bindings, Closure c) {
        Map<String, String> overlay = [:]
        for (Object b : bindings) {
            Map m = (Map) b
            String secret = credentials[m.credentialsId as String]
            if (secret == null) {
                throw new PipelineError("Could not find credentials entry with ID '${m.credentialsId}'")
            }
            overlay[m.variable as String] = secret
            secrets << secret
        }
        env.pushOverlay(overlay)
        try {
            return c.call()
        } finally {
            env.popOverlay()
        }
    }

    private Object withEnv(List entries, Closure c) {
        Map<String, String> overlay = [:]
        for (Object e : entries) {
            String s = String.valueOf(e)
            int eq = s.indexOf('=')
            overlay[s.substring(0, eq)] = s.substring(eq + 1)
        }
        env.pushOverlay(overlay)
        try {
            return c.call()
        } finally {
            env.popOverlay()
        }
    }

    /** Really runs the script with `sh -xe`, as the durable-task plugin does, in the current directory. */
    private Object sh(Map m) {
        String script = m.script as String
        calls[-1].script = script
        ProcessBuilder pb = new ProcessBuilder('sh', '-xe', '-c', script)
        pb.directory(cwd)
        Map<String, String> penv = pb.environment()
        penv.putAll(env.effective())
        boolean wantStdout = m.returnStdout as boolean
        pb.redirectErrorStream(!wantStdout)
        File errFile = null
        if (wantStdout) {
            errFile = File.createTempFile('sh-err', '.txt')
            pb.redirectError(errFile)
        }
        Process p = pb.start()
        p.outputStream.close()
        StringBuilder out = new StringBuilder()
        Thread reader = Thread.start {
            p.inputStream.eachLine('UTF-8') { String line ->
                if (wantStdout) {
                    out.append(line).append('\n')
                } else {
                    log(line)
                }
            }
        }
        if (!p.waitFor(shTimeoutSec, TimeUnit.SECONDS)) {
            p.destroyForcibly()
            throw new PipelineError("sh: timed out after ${shTimeoutSec}s: ${script.readLines()[0]}")
        }
        reader.join(10000)
        if (errFile != null) {
            errFile.eachLine('UTF-8') { String line -> log(line) }
            errFile.delete()
        }
        int rc = p.exitValue()
        if (m.returnStatus) {
            return rc
        }
        if (rc != 0) {
            throw new PipelineError("script returned exit code ${rc}")
        }
        return wantStdout ? out.toString() : null
    }
}
