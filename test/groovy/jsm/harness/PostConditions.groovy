package jsm.harness

import org.jenkinsci.plugins.workflow.steps.FlowInterruptedException

/**
 * Declarative's post conditions as pipeline-model-definition runs them.
 * Order: BuildCondition.getOrderedConditionNames sorts the conditions by their
 * @Extension ordinal, highest first (model/conditions/*.groovy: always 1000,
 * changed 900, fixed 890, regression 880, aborted 800, success 700,
 * unsuccessful 650, unstable 600, failure 500, notBuilt 400, cleanup -10000).
 * Each condition is judged on BuildCondition.getCombinedResult: the run's result
 * combined with the error so far (a FlowInterruptedException counts as its own
 * result, any other Throwable as FAILURE). ModelInterpreter.runPostConditions
 * keeps the first error, including one thrown by an earlier post condition, so an
 * exception in `always` makes `failure` run.
 */
class PostConditions {
    static final List<String> ORDER = ['always', 'changed', 'fixed', 'regression', 'aborted', 'success', 'unsuccessful', 'unstable', 'failure', 'notBuilt', 'cleanup']

    /** hudson.model.Result ordinals: combine() keeps the worse. */
    static final List<String> RESULTS = ['SUCCESS', 'UNSTABLE', 'FAILURE', 'NOT_BUILT', 'ABORTED']

    static String worse(String a, String b) {
        return RESULTS.indexOf(a ?: 'SUCCESS') >= RESULTS.indexOf(b ?: 'SUCCESS') ? (a ?: 'SUCCESS') : (b ?: 'SUCCESS')
    }

    static String errorResult(Throwable t) {
        if (t == null) {
            return 'SUCCESS'
        }
        return t instanceof FlowInterruptedException ? ((FlowInterruptedException) t).result : 'FAILURE'
    }

    static String combined(String runResult, Throwable error) {
        return worse(runResult, errorResult(error))
    }

    /** conditions/<Name>.groovy meetsCondition; `previous` is the previous completed build's result (null: none). */
    static boolean meets(String condition, String result, String previous) {
        switch (condition) {
            case 'always':
            case 'cleanup':
                return true
            case 'changed':
                return previous == null || result != previous
            case 'fixed':
                return previous != null && result == 'SUCCESS' && previous in ['FAILURE', 'UNSTABLE']
            case 'regression':
                return previous != null && RESULTS.indexOf(result) > RESULTS.indexOf(previous)
            case 'aborted':
                return result == 'ABORTED'
            case 'success':
                return result == 'SUCCESS'
            case 'unsuccessful':
                return result != 'SUCCESS'
            case 'unstable':
                return result == 'UNSTABLE'
            case 'failure':
                return result == 'FAILURE'
            case 'notBuilt':
                return result == 'NOT_BUILT'
            default:
                throw new IllegalArgumentException("unknown post condition ${condition}")
        }
    }
}
