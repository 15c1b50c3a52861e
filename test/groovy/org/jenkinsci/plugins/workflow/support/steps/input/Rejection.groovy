package org.jenkinsci.plugins.workflow.support.steps.input

import hudson.model.User
import jenkins.model.CauseOfInterruption

/**
 * Stand-in for pipeline-input-step's Rejection: the cause InputStepExecution#doAbort puts in
 * the FlowInterruptedException(ABORTED) it fails the `input` step with; getUser() is who
 * pressed Abort (null when Jenkins has no current user).
 */
final class Rejection extends CauseOfInterruption {
    private final String userName
    final long timestamp = System.currentTimeMillis()

    Rejection(User u) {
        this.userName = u?.id
    }

    User getUser() {
        return userName != null ? new User(userName) : null
    }

    @Override
    String getShortDescription() {
        return userName != null ? "Rejected by ${userName}".toString() : 'Rejected'
    }
}
