package jsm.harness

/** A build that asked for a node nothing provides: in Jenkins it would wait in the queue for ever. */
class QueueStarvation extends PipelineError {
    QueueStarvation(String message) {
        super(message)
    }
}
