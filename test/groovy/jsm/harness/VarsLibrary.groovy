package jsm.harness

/** Compiled vars/ classes, shared by every build of one library (compiling is the slow part). */
class VarsLibrary {
    final File dir
    final Map<String, Class> vars = [:]
    final GroovyClassLoader loader

    VarsLibrary(File dir) {
        this.dir = dir
        loader = new GroovyClassLoader(VarsLibrary.classLoader, PipelineHarness.compilerConfiguration())
        File varsDir = new File(dir, 'vars')
        for (File f : (varsDir.listFiles() ?: new File[0]).sort { it.name }) {
            if (f.name.endsWith('.groovy')) {
                String name = f.name - '.groovy'
                vars[name] = loader.parseClass(new GroovyCodeSource(f.getText('UTF-8'), name, '/groovy/vars'))
            }
        }
    }
}
