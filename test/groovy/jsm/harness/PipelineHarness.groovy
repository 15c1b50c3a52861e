package jsm.harness

import org.codehaus.groovy.control.CompilerConfiguration
import org.codehaus.groovy.runtime.InvokerHelper
import org.jenkinsci.plugins.workflow.steps.FlowInterruptedException

import java.util.concurrent.TimeUnit
import java.util.concurrent.locks.ReentrantLock

/**
 * A JenkinsPipelineUnit-style harness for one build in one generated
 * installation: the library's vars/ become steps only once the library is
 * loaded the way the installation's jenkins.yaml allows, a build runs only on a
 * node the installation provides, and declarative Jenkinsfiles run stage by stage
 * with Declarative's post conditions. Other pipeline steps are emulated (`sh`
 * really runs). It cannot check CPS or sandbox rules; the generator keeps to
 * those by design. Helpers are protected, not private: Groovy closures in a subclass
 * (demo/RunPipeline.groovy's LiveHarness) cannot call a superclass's private methods.
 */
class PipelineHarness {
    /** Steps the harness emulates, for Jenkins' "No such DSL method" message. */
    static final List<String> STEPS = ['dir', 'echo', 'error', 'fileExists', 'input', 'isUnix', 'library', 'libraryResource', 'node', 'parallel', 'pwd', 'readFile', 'script', 'sh', 'sleep', 'string', 'timeout', 'timestamps', 'withCredentials', 'withEnv', 'writeFile']
    /** Steps that need a workspace (workflow-step-api StepContext: FilePath is only there inside `node`). */
    static final List<String> NEEDS_NODE = ['dir', 'fileExists', 'pwd', 'readFile', 'sh', 'writeFile']

    static CompilerConfiguration compilerConfiguration() {
        CompilerConfiguration cc = new CompilerConfiguration()
        cc.scriptBaseClass = PipelineScript.name
        return cc
    }

    final VarsLibrary library
    final Installation installation
    final File workspace
    final Map<String, String> credentials
    final List<String> console = Collections.synchronizedList([])
    final List<Map> calls = Collections.synchronizedList([])
    final List<Map> stages = []
    final BuildEnv env = new BuildEnv()
    final CurrentBuild currentBuild = new CurrentBuild()
    final Binding binding = new Binding()
    final Map<String, Script> vars = [:]
    final List<String> loadedLibraries = []
    /** Masked in every console line; read by the threads that copy `sh` output while `parallel` branches add to it. */
    final List<String> secrets = new java.util.concurrent.CopyOnWriteArrayList<String>()
    final long shTimeoutSec
    /** Scenario knobs: previousResult, abortWhen, jobParameters, previousJenkinsfileParameters. */
    final Map build
    Map params = [:]
    /** workflow-cps runs the build's Groovy on one thread at a time: a `parallel` branch holds this while it runs Groovy and lets go while a step waits. */
    final ReentrantLock vm = new ReentrantLock()
    /** Why a thread (a `parallel` branch) was told to stop, for the step it is waiting in to throw. */
    final Map<Thread, Throwable> stops = Collections.synchronizedMap([:])
    /** The working directory and node of the running branch (each branch's StepContext has its own). */
    private final InheritableThreadLocal<File> cwdOfBranch = new InheritableThreadLocal<File>()
    private final InheritableThreadLocal<Map> nodeOfBranch = new InheritableThreadLocal<Map>()
    final InputSteps inputs
    final ParallelSteps parallels = new ParallelSteps(this)
    PipelineDsl declared = null

    PipelineHarness(VarsLibrary library, Installation installation, File workspace, Map<String, String> envVars, Map params, Map<String, String> credentials, Map build = [:], long shTimeoutSec = 300) {
        this.library = library
        this.installation = installation
        this.workspace = workspace
        setCwd(workspace)
        this.inputs = new InputSteps(this, build?.inputDir ? new File(build.inputDir as String) : new File(workspace.parentFile, "${workspace.name}-input"))
        this.credentials = credentials ?: [:]
        this.shTimeoutSec = shTimeoutSec
        this.params = params ?: [:]
        this.build = build ?: [:]
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
    }

    /**
     * Runs a Jenkinsfile (declarative `pipeline {}` is handled by the base class) or, with
     * `nodeLabel`, a scripted body inside `node(nodeLabel) { }`. Libraries load first, as
     * pipeline-groovy-lib's LibraryAdder does at compile time: every implicit one plus those
     * named by `@Library` lines.
     */
    Map run(String text, String name = 'Jenkinsfile', String nodeLabel = null) {
        Object value = null
        Throwable failure = null
        enterVm()
        try {
            Map source = LibraryDeclarations.strip(text)
            loadLibraries((List<String>) source.libraries)
            Class cls = library.loader.parseClass(new GroovyCodeSource(source.text as String, name.replaceAll('[^A-Za-z0-9_]', '_'), '/groovy/script'))
            Script script = InvokerHelper.createScript(cls, binding)
            value = nodeLabel == null ? script.run() : onNode(nodeLabel) { script.run() }
        } catch (Throwable t) {
            failure = t
            log("ERROR: ${describe(t)}")
        } finally {
            leaveVm()
        }
        // WorkflowRun: the thrown error's result (FAILURE, or an interruption's own) joins the set one.
        currentBuild.result = PostConditions.worse(currentBuild.result, PostConditions.errorResult(failure))
        return [result: currentBuild.result, value: value, error: failure ? describe(failure) : null]
    }

    static String describe(Throwable t) {
        return t instanceof PipelineError ? t.message : "${t.getClass().name}: ${t.message}"
    }

    File getCwd() {
        return cwdOfBranch.get()
    }

    void setCwd(File dir) {
        cwdOfBranch.set(dir)
    }

    Map getCurrentNode() {
        return nodeOfBranch.get()
    }

    void setCurrentNode(Map node) {
        nodeOfBranch.set(node)
    }

    // ---------- the CPS VM: one branch runs Groovy at a time ----------

    void enterVm() {
        vm.lock()
    }

    void leaveVm() {
        if (vm.isHeldByCurrentThread()) {
            vm.unlock()
        }
    }

    /** Runs `wait` (a step waiting for something outside the build) with the VM free for other branches. */
    Object blocking(Closure wait) {
        boolean held = vm.isHeldByCurrentThread()
        if (held) {
            vm.unlock()
        }
        try {
            return wait.call()
        } finally {
            if (held) {
                vm.lock()
            }
        }
    }

    /** Stops `t` at its step: the step fails with `cause` (e.g. a failFast sibling's FlowInterruptedException). */
    void stop(Thread t, Throwable cause) {
        stops[t] = cause
        t.interrupt()
    }

    /** Sleeps in a waiting step; a stop of this branch ends it with the stop's cause. */
    void pause(long ms) {
        try {
            Thread.sleep(ms)
        } catch (InterruptedException ignored) {
            throw stopCause()
        }
    }

    Throwable stopCause() {
        Throwable c = stops.remove(Thread.currentThread())
        return c ?: new FlowInterruptedException('ABORTED', 'interrupted')
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

    // ---------- libraries ----------

    /** Implicit libraries plus the requested `name[@version]` ones (LibraryAdder.add). */
    protected void loadLibraries(List<String> requested) {
        List<String> missing = []
        for (String r : requested) {
            if (installation.library(r.tokenize('@')[0]) == null) {
                missing << r
            }
        }
        if (missing) {
            // LibraryDecorator: Messages.LibraryDecorator_could_not_find_any_definition_of_librari
            throw new PipelineError("Could not find any definition of libraries ${missing}")
        }
        for (Map lib : installation.libraries) {
            if (lib.implicit || requested.any { it.tokenize('@')[0] == lib.name }) {
                bindLibrary(lib.name as String)
            }
        }
    }

    /** One global library per installation here: the generated one, whose vars/ the harness compiled. */
    protected void bindLibrary(String name) {
        if (name in loadedLibraries) {
            return
        }
        loadedLibraries << name
        log("Loading library ${name}")
        library.vars.each { String varName, Class cls ->
            Script s = InvokerHelper.createScript(cls, binding)
            vars[varName] = s
            binding.setVariable(varName, new VarHandle(varName, s, calls))
        }
    }

    /** The `library` step (LibraryStep): loads by name at run time; unknown names abort. */
    protected Object libraryStep(Object arg) {
        String id = arg instanceof Map ? ((Map) arg).identifier as String : String.valueOf(arg)
        String name = id.tokenize('@')[0]
        if (installation.library(name) == null) {
            throw new PipelineError("No library named ${name} found")
        }
        bindLibrary(name)
        return [name: name]
    }

    // ---------- nodes ----------

    /**
     * Runs `body` on a node of the installation carrying `label` (null: `agent any`). With no
     * such node or template the real build waits in the queue for ever (hudson.model.Queue,
     * Messages "Queue.LabelHasNoNodes"); the harness fails it with that message instead.
     */
    Object onNode(String label, Closure body) {
        Map node = installation.allocate(label)
        if (node == null) {
            String what = label == null ? 'any node' : "label ‘${label}’"
            throw new QueueStarvation("Still waiting to schedule task: There are no nodes with the ${what}: " +
                "waiting for a node with ${what} that nothing provides in ${installation.source} (${installation.describe()}); " +
                'the build would wait in the queue forever')
        }
        Map before = currentNode
        currentNode = node
        Map<String, String> overlay = [NODE_NAME: node.name as String, NODE_LABELS: ((List) node.labels).join(' ')]
        overlay.putAll((Map<String, String>) (node.env ?: [:]))
        log("Running on ${node.name} in ${workspace}")
        env.pushOverlay(overlay)
        try {
            return body.call()
        } finally {
            env.popOverlay()
            currentNode = before
        }
    }

    protected Object withAgent(Object agent, Closure body) {
        if (agent == 'none') {
            return body.call()
        }
        if (agent == 'any') {
            return onNode(null, body)
        }
        if (agent instanceof Map && ((Map) agent).label) {
            return onNode(((Map) agent).label as String, body)
        }
        throw new UnsupportedOperationException("agent ${agent} is not emulated")
    }

    // ---------- declarative ----------

    /**
     * ModelInterpreter.call: the whole build, post included, runs inside the top-level
     * agent; stages run in order, the first error skips the rest; post runs last with
     * that error. The error is rethrown so the build ends with its result.
     */
    Object runDeclarative(Closure body, Script script) {
        PipelineDsl p = (PipelineDsl) Dsl.run(body, new PipelineDsl())
        declared = p
        binding.setVariable('params', Collections.unmodifiableMap(effectiveParams(p)))
        Throwable first = null
        withAgent(p.agent) {
            p.environment.each { k, v -> env.setProperty(k as String, v) }
            first = runStages(p, script)
            first = runPost(p.post, script, first, null)
        }
        if (first != null && !(first instanceof PipelineError) && !(first instanceof FlowInterruptedException)) {
            // An unexpected exception (a bug in a step) must not look like a clean failure.
            stages << [name: 'harness', status: 'exception', error: describe(first)]
        }
        if (first != null) {
            throw first
        }
        return null
    }

    protected Throwable runStages(PipelineDsl p, Script script) {
        Throwable first = null
        for (StageDsl stage : p.stages) {
            if (first != null) {
                stages << [name: stage.name, status: 'skipped (earlier failure)']
                continue
            }
            if (stage.when && !stage.when.every { Closure c -> WhenDsl.eval(c, script) }) {
                stages << [name: stage.name, status: 'skipped (when)']
                continue
            }
            log("[Pipeline] stage (${stage.name})")
            Throwable stageError = null
            try {
                if (stage.agent != null) {
                    withAgent(stage.agent) { runBody(stage.steps, script) }
                } else {
                    runBody(stage.steps, script)
                }
                stages << [name: stage.name, status: 'success']
            } catch (Throwable t) {
                stageError = t
                stages << [name: stage.name, status: 'failed', error: describe(t)]
                log("ERROR: ${describe(t)}")
            }
            // ModelInterpreter.executeSingleStage: the stage's post judges the stage's own error.
            stageError = runPost(stage.post, script, stageError, stage.name)
            first = stageError
        }
        return first
    }

    /** ModelInterpreter.runPostConditions, condition by condition (see PostConditions). */
    protected Throwable runPost(Map<String, Closure> post, Script script, Throwable error, String stageName) {
        Throwable stageError = error
        for (String condition : PostConditions.ORDER) {
            Closure c = post[condition]
            if (c == null) {
                continue
            }
            String original = currentBuild.result
            String logical = PostConditions.combined(original, stageError)
            if (!PostConditions.meets(condition, logical, build.previousResult as String)) {
                continue
            }
            String where = stageName == null ? 'pipeline' : "stage ${stageName}"
            log("[Pipeline] post (${where}: ${condition})")
            // The condition's body sees the logical result in currentBuild.result (set with .@result).
            currentBuild.forceResult(logical)
            try {
                runBody(c, script)
                stages << [name: "post ${condition}", status: 'success']
            } catch (Throwable t) {
                stages << [name: "post ${condition}", status: 'failed', error: describe(t)]
                log("Error when executing ${condition} post condition:")
                log("ERROR: ${describe(t)}")
                if (stageError == null) {
                    stageError = t
                }
            } finally {
                if (currentBuild.result == logical && logical != original) {
                    currentBuild.forceResult(original)
                }
            }
        }
        return stageError
    }

    /**
     * This build's params: the job's parameter definitions (what Job DSL created; their
     * defaults fill what the trigger left out), else the Jenkinsfile's own, plus what the
     * trigger passed.
     */
    protected Map effectiveParams(PipelineDsl p) {
        List<Map> defs = build.jobParameters != null ? (List<Map>) build.jobParameters : p.parameters
        Map effective = [:]
        for (Map def_ : defs) {
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
        return effective
    }

    /**
     * The job's parameter definitions once this build has run (Declarative
     * Utils.getParametersToApply): the Jenkinsfile's, then the job's others except
     * names the previous build's Jenkinsfile declared.
     */
    List<Map> parametersAfterBuild() {
        List<Map> fromFile = declared == null ? [] : declared.parameters
        List<Map> existing = (List<Map>) (build.jobParameters ?: [])
        Set<String> prev = new HashSet<String>((Collection<String>) (build.previousJenkinsfileParameters ?: []))
        Set<String> seen = new HashSet<String>(fromFile.collect { it.name as String })
        return fromFile + existing.findAll { !(it.name in seen) && !(it.name in prev) }
    }

    protected static Object runBody(Closure c, Object delegate) {
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
        if (!(name in STEPS)) {
            // workflow-cps DSL.invokeMethod: what a call to an unknown step (or a var of a library never loaded) throws.
            throw new NoSuchMethodError("No such DSL method '${name}' found among steps ${STEPS} or globals ${['currentBuild', 'env', 'params'] + vars.keySet().sort()}")
        }
        if (name in NEEDS_NODE && currentNode == null) {
            // workflow-step-api MissingContextVariableException: no FilePath outside `node`.
            throw new PipelineError("Required context class hudson.FilePath is missing\nPerhaps you forgot to surround the ${name} step with a step that provides this, such as: node")
        }
        calls << [step: name]
        switch (name) {
            case 'echo':
                log(String.valueOf(args[0]))
                return null
            case 'error':
                throw new PipelineError(String.valueOf(args[0]))
            case 'library':
                return libraryStep(args[0])
            case 'node':
                return onNode(args.length > 1 ? String.valueOf(args[0]) : null, (Closure) args[-1])
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
                return inputs.timeout(args[0] instanceof Map ? (Map) args[0] : [time: args[0]], (Closure) args[-1])
            case 'input':
                return inputs.input(args[0])
            case 'parallel':
                return parallels.parallel((Map) args[0])
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
                blocking { pause(Math.min(sec, 5L) * 1000L) }
                return null
            default:
                throw new MissingMethodException(name, PipelineScript, args)
        }
    }

    File file(String path) {
        File f = new File(path)
        return f.isAbsolute() ? f : new File(cwd, path)
    }

    protected Object withCredentials(List bindings, Closure c) {
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

    protected Object withEnv(List entries, Closure c) {
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
    protected Object sh(Map m) {
        String script = m.script as String
        calls[-1].script = script
        Map<String, String> when = (Map<String, String>) build.abortWhen
        if (when && when.every { k, v -> env.effective()[k] == v }) {
            // A user presses Abort while this step runs: the step is interrupted with
            // FlowInterruptedException(ABORTED) (workflow-job WorkflowRun.doStop).
            log('Aborted by user')
            throw new FlowInterruptedException('ABORTED', 'Aborted by user')
        }
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
        boolean ended
        try {
            ended = blocking { p.waitFor(shTimeoutSec, TimeUnit.SECONDS) }
        } catch (InterruptedException ignored) {
            // A stopped branch: durable-task stops the process, the step fails with the stop's cause.
            p.destroyForcibly()
            throw stopCause()
        }
        if (!ended) {
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
