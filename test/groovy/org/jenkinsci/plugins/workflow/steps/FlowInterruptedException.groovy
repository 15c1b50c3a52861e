package org.jenkinsci.plugins.workflow.steps

/**
 * Stand-in for workflow-step-api's FlowInterruptedException (a user's abort, a
 * `timeout` expiring): an InterruptedException, so a Groovy `catch (err)` (which
 * catches Exception) swallows it unless the code rethrows it. `result` is the
 * build result it carries (ABORTED for an abort or a timeout), as a name here.
 */
class FlowInterruptedException extends InterruptedException {
    final String result

    FlowInterruptedException(String result, String message) {
        super(message)
        this.result = result
    }
}
