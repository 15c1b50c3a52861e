package jsm.harness

/** `env`: the build's variables, `env.X = v` assignments (kept as strings, as Jenkins does) and withEnv overlays. */
class BuildEnv extends GroovyObjectSupport {
    // Fields are reached through methods: getProperty below answers every property access.
    private final Map<String, String> base = [:]
    private final List<Map<String, String>> overlays = []

    Map<String, String> baseVars() {
        return base
    }

    void pushOverlay(Map<String, String> overlay) {
        overlays.add(overlay)
    }

    void popOverlay() {
        overlays.remove(overlays.size() - 1)
    }

    @Override
    Object getProperty(String name) {
        for (int i = overlays.size() - 1; i >= 0; i--) {
            if (overlays[i].containsKey(name)) {
                return overlays[i][name]
            }
        }
        return base[name]
    }

    @Override
    void setProperty(String name, Object value) {
        // workflow-cps EnvActionImpl.setProperty: String.valueOf, so null is stored as "null".
        base[name] = String.valueOf(value)
    }

    Map<String, String> effective() {
        Map<String, String> all = new LinkedHashMap<>(base)
        for (Map<String, String> o : overlays) {
            all.putAll(o)
        }
        return all.findAll { k, v -> v != null }
    }
}
