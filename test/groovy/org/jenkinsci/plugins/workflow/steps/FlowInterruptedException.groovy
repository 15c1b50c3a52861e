package org.jenkinsci.plugins.workflow.steps

import jenkins.model.CauseOfInterruption

/**
 * Stand-in for workflow-step-api's FlowInterruptedException (a user's abort, a `timeout`
 * expiring, an `input` rejected, a sibling `parallel` branch failing with failFast): an
 * InterruptedException, so a Groovy `catch (err)` (which catches Exception) swallows it
 * unless the code rethrows it. `result` is the build result it carries (ABORTED for all of
 * these), as a name here; getCauses() says why, as the real one does.
 */
class FlowInterruptedException extends InterruptedException {
    final String result
    private final List<CauseOfInterruption> causes

    FlowInterruptedException(String result, String message) {
        super(message)
        this.result = result
        this.causes = []
    }

    FlowInterruptedException(String result, CauseOfInterruption... causes) {
        super(causes*.shortDescription.join(', '))
        this.result = result
        this.causes = causes as List
    }

    List<CauseOfInterruption> getCauses() {
        return Collections.unmodifiableList(causes)
    }
}
