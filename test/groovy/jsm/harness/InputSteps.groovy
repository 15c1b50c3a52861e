package jsm.harness

import groovy.json.JsonOutput
import groovy.json.JsonSlurperClassic
import hudson.model.User
import org.jenkinsci.plugins.workflow.steps.FlowInterruptedException
import org.jenkinsci.plugins.workflow.steps.TimeoutStepExecution
import org.jenkinsci.plugins.workflow.support.steps.input.Rejection

import java.security.MessageDigest
import java.util.concurrent.TimeUnit

/**
 * The `input` step as pipeline-input-step has it (InputStep, InputStepExecution), and the
 * deadline of an enclosing `timeout` step for it.
 *
 * The answer path stands in for Jenkins' REST API of a paused build:
 * - while an input waits it is listed as `<dir>/pending/<id>.json` ({id, message, ok, cancel,
 *   submitter}), as `GET /job/<job>/<n>/wfapi/pendingInputActions` lists it;
 * - a person answers by writing `<dir>/answers/<id>.json` = {"action": "proceedEmpty" | "abort",
 *   "user": "<user id>"}, for `POST /job/<job>/<n>/input/<id>/proceedEmpty` or `/abort`
 *   (InputStepExecution#doProceedEmpty, #doAbort);
 * - an answer Jenkins refuses (InputStepExecution#preSubmissionCheck: not one of `submitter`)
 *   is moved to `<id>.refused` with Jenkins' message, and the input goes on waiting.
 * Once settled the pending entry goes (postSettlement removes it from the InputAction).
 */
class InputSteps {
    /** InputStep's @DataBoundConstructor (message) and @DataBoundSetters. */
    static final List<String> KEYS = ['message', 'id', 'ok', 'cancel', 'submitter', 'submitterParameter', 'parameters']
    static final long POLL_MS = 50

    final PipelineHarness harness
    final File dir

    InputSteps(PipelineHarness harness, File dir) {
        this.harness = harness
        this.dir = dir
    }

    /** Deadlines (ms since epoch) of the `timeout` steps around the running code, innermost last; per branch. */
    private final InheritableThreadLocal<List<Long>> deadlines = new InheritableThreadLocal<List<Long>>() {
        @Override
        protected List<Long> initialValue() {
            return []
        }

        @Override
        protected List<Long> childValue(List<Long> parent) {
            return new ArrayList<Long>(parent)
        }
    }

    /**
     * `timeout(time:, unit:) { }`: here only an `input` inside it ends at the deadline, failing with
     * FlowInterruptedException(ABORTED, ExceededTimeout) as TimeoutStepExecution#cancel makes the
     * running step fail (other steps in the body are not cut short by the harness).
     */
    Object timeout(Map args, Closure body) {
        long time = args.time as long
        TimeUnit unit = args.unit ? TimeUnit.valueOf(args.unit as String) : TimeUnit.MINUTES
        deadlines.get().add(System.currentTimeMillis() + unit.toMillis(time))
        try {
            return body.call()
        } finally {
            List<Long> d = deadlines.get()
            d.remove(d.size() - 1)
        }
    }

    Object input(Object arg) {
        Map a = arg instanceof Map ? new LinkedHashMap((Map) arg) : [message: String.valueOf(arg)]
        List unknown = new ArrayList(a.keySet().findAll { !(it in KEYS) })
        if (unknown) {
            // structs DescribableModel#instantiate; workflow-cps logs it and runs the step without them.
            harness.log("WARNING: Unknown parameter(s) found for class type 'org.jenkinsci.plugins.workflow.support.steps.input.InputStep': ${unknown.join(',')}")
        }
        if (a.parameters) {
            throw new UnsupportedOperationException('input parameters are not emulated by the harness (only proceed/abort)')
        }
        // InputStep(String message): a null message becomes this default.
        String message = (a.message ?: 'Pipeline has paused and needs your input before proceeding') as String
        String id = inputId(a.id as String, message)
        String ok = (a.ok ?: 'Proceed') as String
        String cancel = (a.cancel ?: 'Abort') as String
        String submitter = fixEmpty(a.submitter as String)
        String submitterParameter = fixEmpty(a.submitterParameter as String)
        // InputStepExecution#start: message, then the two POST links.
        harness.log(message)
        harness.log("${ok} or ${cancel}")
        File pending = new File(dir, "pending/${id}.json")
        File answer = new File(dir, "answers/${id}.json")
        pending.parentFile.mkdirs()
        answer.parentFile.mkdirs()
        pending.setText(JsonOutput.toJson([id: id, message: message, ok: ok, cancel: cancel, submitter: submitter]), 'UTF-8')
        try {
            return harness.blocking { awaitAnswer(id, answer, submitter, submitterParameter) }
        } finally {
            pending.delete()
        }
    }

    private Object awaitAnswer(String id, File answer, String submitter, String submitterParameter) {
        for (;;) {
            if (answer.isFile()) {
                Map said = (Map) new JsonSlurperClassic().parseText(answer.getText('UTF-8'))
                String user = said.user as String
                if (said.action == 'abort') {
                    answer.delete()
                    // InputStepExecution#doAbort (Job/Cancel permission assumed for the answering user).
                    throw new FlowInterruptedException('ABORTED', new Rejection(user ? new User(user) : null))
                }
                if (said.action == 'proceedEmpty' && mayProceed(submitter, user)) {
                    answer.delete()
                    harness.log("Approved by ${user}")
                    // #doProceedEmpty: only a submitterParameter makes a value; one value is returned as itself.
                    return submitterParameter ? user : null
                }
                String why = said.action == 'proceedEmpty' ? "You need to be ${submitter} to submit this." : "unknown input action ${said.action}"
                answer.renameTo(new File(answer.parentFile, "${id}.refused"))
                new File(answer.parentFile, "${id}.refused.txt").setText(why, 'UTF-8')
            }
            long deadline = nearestDeadline()
            if (deadline > 0 && System.currentTimeMillis() >= deadline) {
                throw new FlowInterruptedException('ABORTED', new TimeoutStepExecution.ExceededTimeout())
            }
            harness.pause(POLL_MS)
        }
    }

    private long nearestDeadline() {
        List<Long> d = deadlines.get()
        return d ? (long) d.min() : 0L
    }

    /** #canSettle: no submitter, anyone with Job/Build; else one of the comma-separated ids. */
    private static boolean mayProceed(String submitter, String user) {
        if (submitter == null) {
            return true
        }
        return user != null && submitter.split(',').any { it.trim() == user }
    }

    /** InputStep#setId / #getId: a given id capitalised, else the MD5 of the message; URL-unsafe ids refused. */
    static String inputId(String given, String message) {
        String id = fixEmpty(given)
        if (id == null) {
            id = MessageDigest.getInstance('MD5').digest(message.getBytes('UTF-8')).encodeHex().toString()
        } else if (!(id ==~ /[A-Za-z0-9\-._~!$&'()*+,;=:@%]+/)) {
            throw new IllegalArgumentException("InputStep id is required to be URL safe, but the provided id ${id} is not safe")
        }
        char ch = id.charAt(0)
        return ('a' <= ch && ch <= 'z') ? ((char) (ch - ('a' as char) + ('A' as char))).toString() + id.substring(1) : id
    }

    private static String fixEmpty(String s) {
        return s?.trim() ? s.trim() : null
    }
}
