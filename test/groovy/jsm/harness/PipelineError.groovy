package jsm.harness

/** What the `error` step and a failing `sh` throw in Jenkins (hudson.AbortException). */
class PipelineError extends RuntimeException {
    PipelineError(String message) {
        super(message)
    }
}
