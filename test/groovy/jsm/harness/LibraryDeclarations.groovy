package jsm.harness

/**
 * `@Library('name[@version]') _` lines (pipeline-groovy-lib LibraryDecorator reads the
 * annotation at compile time). The harness takes them out before compiling (groovyc
 * does not know the annotation) and returns the names they request.
 */
class LibraryDeclarations {
    static Map strip(String text) {
        List<String> libraries = []
        List<String> lines = text.readLines().collect { String line ->
            def m = line =~ /^\s*@Library\s*\((.*)\)\s*(_|import\s.*)?\s*$/
            if (!m.matches()) {
                return line
            }
            (m.group(1) =~ /'([^']*)'|"([^"]*)"/).each { List g -> libraries << (g[1] ?: g[2]) }
            String rest = m.group(2)
            return rest && rest != '_' ? rest : ''
        }
        return [text: lines.join('\n'), libraries: libraries]
    }
}
