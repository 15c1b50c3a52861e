package jsm.harness

/** `currentBuild` (RunWrapper): result stays null while the build is succeeding. */
class CurrentBuild {
    private String result = null
    String projectName
    String fullProjectName
    int number
    String displayName
    String description

    String getResult() {
        return result
    }

    /** Run.setResult: a result can only get worse. */
    void setResult(String r) {
        result = PostConditions.worse(result, r) == r ? r : result
    }

    /** Declarative's `rawBuild.@result = x` (ModelInterpreter.runPostConditions), which may also improve it. */
    void forceResult(String r) {
        result = r
    }

    String getCurrentResult() {
        return result ?: 'SUCCESS'
    }
}
