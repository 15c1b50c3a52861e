package jsm.harness

/** `env`: the build's variables, `env.X = v` assignments (kept as strings, as Jenkins does) and withEnv overlays. */
class BuildEnv extends GroovyObjectSupport {
    // Fields are reached through methods: getProperty below answers every property access.
    private final Map<String, String> base = [:]
    /** withEnv / withCredentials / node overlays of the running branch: a `parallel` branch starts with a copy of its parent's. */
    private final InheritableThreadLocal<List<Map<String, String>>> overlaysOfBranch = new InheritableThreadLocal<List<Map<String, String>>>() {
        @Override
        protected List<Map<String, String>> initialValue() {
            return []
        }

        @Override
        protected List<Map<String, String>> childValue(List<Map<String, String>> parent) {
            return new ArrayList<Map<String, String>>(parent)
        }
    }

    Map<String, String> baseVars() {
        return base
    }

    void pushOverlay(Map<String, String> overlay) {
        overlaysOfBranch.get().add(overlay)
    }

    void popOverlay() {
        overlaysOfBranch.get().remove(overlaysOfBranch.get().size() - 1)
    }

    @Override
    Object getProperty(String name) {
        for (int i = overlaysOfBranch.get().size() - 1; i >= 0; i--) {
            if (overlaysOfBranch.get()[i].containsKey(name)) {
                return overlaysOfBranch.get()[i][name]
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
        for (Map<String, String> o : overlaysOfBranch.get()) {
            all.putAll(o)
        }
        return all.findAll { k, v -> v != null }
    }
}
