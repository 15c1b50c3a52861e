package jsm.harness

/** `currentBuild` (RunWrapper): result stays null while the build is succeeding. */
class CurrentBuild {
    String result = null
    String projectName
    String fullProjectName
    int number
    String displayName
    String description

    String getCurrentResult() {
        return result ?: 'SUCCESS'
    }
}
