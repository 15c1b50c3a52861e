package org.jenkinsci.plugins.workflow.steps

import jenkins.model.CauseOfInterruption

/**
 * Stand-in for workflow-basic-steps' TimeoutStepExecution, for its cause only: when the
 * `timeout` step's time runs out it cancels its body with `new ExceededTimeout(nodeId)`
 * (TimeoutStepExecution#cancel), so the step running then fails with a
 * FlowInterruptedException(ABORTED) carrying it.
 */
class TimeoutStepExecution {
    static final class ExceededTimeout extends CauseOfInterruption {
        @Override
        String getShortDescription() {
            return 'Timeout has been exceeded'
        }
    }
}
