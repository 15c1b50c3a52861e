package jsm.harness

import org.codehaus.groovy.control.CompilerConfiguration
import org.codehaus.groovy.runtime.InvokerHelper

/**
 * The Job DSL API, limited to methods the real plugin has (see
 * jenkins-rest-notes.md "Job DSL"): a script calling anything else fails here as
 * it would in Jenkins. Deprecated forms (triggers{} on pipelineJob,
 * concurrentBuild()) are left out on purpose. Produces the job tree it declares.
 */
class JobDsl {
    final List<Map> items = []
    final List<String> queued = []

    static List<Map> run(String text) {
        JobDsl dsl = new JobDsl()
        CompilerConfiguration cc = new CompilerConfiguration()
        cc.scriptBaseClass = JobDslScript.name
        Binding b = new Binding()
        b.setVariable('__jobdsl', dsl)
        Class cls = new GroovyClassLoader(JobDsl.classLoader, cc).parseClass(new GroovyCodeSource(text, 'seed', '/groovy/jobdsl'))
        InvokerHelper.createScript(cls, b).run()
        return dsl.items
    }

    static Object within(Closure c, Object ctx) {
        if (c != null) {
            c.delegate = ctx
            c.resolveStrategy = Closure.DELEGATE_FIRST
            c.call()
        }
        return ctx
    }

    Map add(String type, String fullName, Map spec) {
        if (!(fullName ==~ /[^\/]+(\/[^\/]+)*/)) {
            throw new IllegalArgumentException("invalid item name '${fullName}'")
        }
        int slash = fullName.lastIndexOf('/')
        if (slash > 0) {
            String parent = fullName.substring(0, slash)
            if (!items.any { it.type == 'folder' && it.fullName == parent }) {
                throw new IllegalStateException("Could not create item, unknown parent path in \"${fullName}\" (create folder('${parent}') first)")
            }
        }
        Map existing = items.find { it.fullName == fullName }
        if (existing != null && existing.type != type) {
            throw new IllegalStateException("${fullName} already exists as a ${existing.type}")
        }
        Map item = [type: type, fullName: fullName] + spec
        if (existing != null) {
            items[items.indexOf(existing)] = item
        } else {
            items << item
        }
        return item
    }
}

abstract class JobDslScript extends Script {
    JobDsl getJobDsl() { (JobDsl) binding.getVariable('__jobdsl') }

    Map folder(String name, Closure c = null) {
        return jobDsl.add('folder', name, ((ItemContext) JobDsl.within(c, new FolderContext())).spec)
    }

    Map pipelineJob(String name, Closure c = null) {
        return jobDsl.add('pipelineJob', name, ((ItemContext) JobDsl.within(c, new PipelineJobContext())).spec)
    }

    /** DslFactory.queue: schedules a build of a job the script declared. */
    void queue(String jobName) {
        if (!jobDsl.items.any { it.fullName == jobName }) {
            throw new IllegalStateException("queue: unknown job ${jobName}")
        }
        jobDsl.queued << jobName
    }
}

class ItemContext {
    Map spec = [:]
    void displayName(String s) { spec.displayName = s }
    void description(String s) { spec.description = s }
}

class FolderContext extends ItemContext {
    void primaryView(String s) { spec.primaryView = s }
}

class PipelineJobContext extends ItemContext {
    void disabled(boolean d = true) { spec.disabled = d }
    void keepDependencies(boolean k = true) { spec.keepDependencies = k }
    void quietPeriod(int s) { spec.quietPeriod = s }
    void parameters(Closure c) { spec.parameters = ((ParametersContext) JobDsl.within(c, new ParametersContext(list: (List) (spec.parameters ?: [])))).list }
    void properties(Closure c) { spec.properties = ((JobPropertiesContext) JobDsl.within(c, new JobPropertiesContext(props: (Map) (spec.properties ?: [:])))).props }
    void logRotator(Closure c) { spec.logRotator = ((LogRotatorContext) JobDsl.within(c, new LogRotatorContext())).values }
    void logRotator(int daysToKeep, int numToKeep = -1, int artifactDaysToKeep = -1, int artifactNumToKeep = -1) {
        spec.logRotator = [daysToKeep: daysToKeep, numToKeep: numToKeep, artifactDaysToKeep: artifactDaysToKeep, artifactNumToKeep: artifactNumToKeep]
    }
    void definition(Closure c) { spec.definition = ((DefinitionContext) JobDsl.within(c, new DefinitionContext())).value }
}

class ParametersContext {
    List list
    void choiceParam(String name, List options, String description = null) { list << [type: 'choice', name: name, choices: options, description: description] }
    void stringParam(String name, String defaultValue = null, String description = null) { list << [type: 'string', name: name, defaultValue: defaultValue, description: description] }
    void booleanParam(String name, boolean defaultValue = false, String description = null) { list << [type: 'boolean', name: name, defaultValue: defaultValue, description: description] }
    void textParam(String name, String defaultValue = null, String description = null) { list << [type: 'text', name: name, defaultValue: defaultValue, description: description] }
}

class JobPropertiesContext {
    Map props
    void disableConcurrentBuilds(Closure c = null) { props.disableConcurrentBuilds = true }
    void pipelineTriggers(Closure c) { props.pipelineTriggers = ((PipelineTriggersContext) JobDsl.within(c, new PipelineTriggersContext())).triggers }
}

class PipelineTriggersContext {
    List triggers = []
    void triggers(Closure c) { JobDsl.within(c, new TriggerContext(list: triggers)) }
}

class TriggerContext {
    List list
    void cron(Closure c) { list << [cron: ((CronContext) JobDsl.within(c, new CronContext())).spec] }
    void pollSCM(Closure c) { list << [pollSCM: ((CronContext) JobDsl.within(c, new CronContext())).spec] }
}

class CronContext {
    String spec
    void spec(String s) { spec = s }
}

class LogRotatorContext {
    Map values = [:]
    void numToKeep(int n) { values.numToKeep = n }
    void daysToKeep(int n) { values.daysToKeep = n }
    void artifactNumToKeep(int n) { values.artifactNumToKeep = n }
    void artifactDaysToKeep(int n) { values.artifactDaysToKeep = n }
}

class DefinitionContext {
    Map value
    void cpsScm(Closure c) { value = [cpsScm: ((CpsScmContext) JobDsl.within(c, new CpsScmContext())).values] }
    void cps(Closure c) { value = [cps: ((CpsContext) JobDsl.within(c, new CpsContext())).values] }
}

class CpsScmContext {
    Map values = [lightweight: false]
    void scm(Closure c) { values.scm = ((ScmContext) JobDsl.within(c, new ScmContext())).value }
    void scriptPath(String p) { values.scriptPath = p }
    void lightweight(boolean l = true) { values.lightweight = l }
}

class CpsContext {
    Map values = [sandbox: false]
    void script(String s) { values.script = s }
    void sandbox(boolean s = true) { values.sandbox = s }
}

class ScmContext {
    Map value
    void git(Closure c) { value = [git: ((GitContext) JobDsl.within(c, new GitContext())).values] }
    void git(String url, String branch = null) { value = [git: [remotes: [[url: url]], branches: branch ? [branch] : []]] }
}

class GitContext {
    Map values = [remotes: [], branches: []]
    void remote(Closure c) { values.remotes << ((RemoteContext) JobDsl.within(c, new RemoteContext())).values }
    void branch(String b) { values.branches << b }
    void branches(String... b) { values.branches.addAll(b) }
}

class RemoteContext {
    Map values = [:]
    void url(String u) { values.url = u }
    void credentials(String id) { values.credentials = id }
    void name(String n) { values.name = n }
    void github(String ownerAndProject, String protocol = 'https', String host = 'github.com') { values.url = "${protocol}://${host}/${ownerAndProject}.git".toString() }
}
