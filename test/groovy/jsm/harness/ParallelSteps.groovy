package jsm.harness

import jenkins.model.CauseOfInterruption
import org.jenkinsci.plugins.workflow.steps.FlowInterruptedException

/**
 * The `parallel` step as workflow-cps has it (ParallelStep, ParallelStepExecution):
 * - arguments: closures by branch name, and `failFast: <Boolean>`; anything else is refused
 *   with ParallelStep.DescriptorImpl#newInstance's IllegalArgumentException;
 * - each branch runs concurrently with the others, as CPS does: one thread runs the build's
 *   Groovy at a time (the harness's VM lock) and a branch yields while a step waits (sh, input,
 *   sleep), so branches interleave at steps; each branch has its own withEnv/dir/node context
 *   (a StepContext of its own) while `env.X =` assignments are the build's;
 * - a failing branch prints "Failed in branch <name>"; with failFast the branches still running
 *   are stopped with FlowInterruptedException(ABORTED, FailFastCause) (ResultHandler.Callback
 *   #checkAllDone);
 * - once all ended: success returns a map of each branch's value; else the first failure with
 *   the others suppressed — with failFast the first to fail, without it the most severe
 *   (ThrowableComparator: any other error, then AbortException, then FlowInterruptedException).
 */
class ParallelSteps {
    final PipelineHarness harness

    ParallelSteps(PipelineHarness harness) {
        this.harness = harness
    }

    /** ParallelStep's FailFastCause: why a sibling branch was stopped. */
    static final class FailFastCause extends CauseOfInterruption {
        final String failingBranch

        FailFastCause(String failingBranch) {
            this.failingBranch = failingBranch
        }

        @Override
        String getShortDescription() {
            return "Failed in branch ${failingBranch}".toString()
        }
    }

    Object parallel(Map arguments) {
        boolean failFast = false
        Map<String, Closure> closures = new LinkedHashMap<>()
        arguments.each { k, v ->
            if (v instanceof Closure) {
                closures[k as String] = (Closure) v
            } else if (k == 'failFast' && v instanceof Boolean) {
                failFast = (Boolean) v
            } else {
                throw new IllegalArgumentException("Expected a closure or failFast but found ${k}=${v}")
            }
        }
        Map<String, Object> values = Collections.synchronizedMap(new LinkedHashMap<String, Object>())
        List<Throwable> failures = Collections.synchronizedList([])
        Map<String, Thread> running = Collections.synchronizedMap(new LinkedHashMap<String, Thread>())
        closures.each { String name, Closure body ->
            Thread t = new Thread({ runBranch(name, body, values, failures, running, failFast) } as Runnable, "branch ${name}")
            running[name] = t
        }
        harness.log('[Pipeline] parallel')
        List<Thread> threads = new ArrayList<Thread>(running.values())
        threads*.start()
        harness.blocking { threads*.join() }
        if (failures.isEmpty()) {
            return values
        }
        List<Throwable> ordered = failFast ? new ArrayList<Throwable>(failures) : failures.sort(false) { Throwable a, Throwable b -> severity(a) <=> severity(b) ?: failures.indexOf(a) <=> failures.indexOf(b) }
        Throwable head = ordered[0]
        ordered.drop(1).each { head.addSuppressed(it) }
        throw head
    }

    private void runBranch(String name, Closure body, Map values, List<Throwable> failures, Map<String, Thread> running, boolean failFast) {
        harness.enterVm()
        try {
            harness.log("[Pipeline] { (Branch: ${name})")
            values[name] = body.call()
        } catch (Throwable t) {
            harness.log("Failed in branch ${name}")
            failures << t
            if (failFast) {
                stopSiblings(name, running)
            }
        } finally {
            running.remove(name)
            harness.leaveVm()
        }
    }

    private void stopSiblings(String failing, Map<String, Thread> running) {
        List<Thread> others = []
        synchronized (running) {
            others.addAll(running.findAll { k, v -> k != failing }.values())
        }
        others.each { harness.stop(it, new FlowInterruptedException('ABORTED', new FailFastCause(failing))) }
    }

    /** ThrowableComparator: lower is more severe. */
    private static int severity(Throwable t) {
        if (t instanceof FlowInterruptedException) {
            return 2
        }
        return t instanceof PipelineError ? 1 : 0
    }
}
