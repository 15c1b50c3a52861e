package jenkins.model

/**
 * Stand-in for Jenkins core's jenkins.model.CauseOfInterruption: why a step or build was
 * interrupted, carried by FlowInterruptedException.getCauses().
 */
abstract class CauseOfInterruption implements Serializable {
    abstract String getShortDescription()
}
