package jsm.harness

/**
 * The Jenkins installation a build runs in, read from the generated jenkins.yaml
 * (test/groovy/jenkins-installation.ts turns its JCasC keys into this map):
 * the global libraries and the executors a build can get (permanent nodes, the
 * built-in node, cloud templates). A build gets only what this provides.
 */
class Installation {
    final String source
    final List<Map> libraries
    final List<Map> nodes
    final List<Map> clouds

    Installation(Map spec) {
        source = spec.source as String
        libraries = (List<Map>) (spec.libraries ?: [])
        nodes = (List<Map>) (spec.nodes ?: [])
        clouds = (List<Map>) (spec.clouds ?: [])
    }

    List<Map> implicitLibraries() {
        return libraries.findAll { it.implicit as boolean }
    }

    Map library(String name) {
        return libraries.find { it.name == name }
    }

    /**
     * A node (or a cloud template that would provision one) for `agent { label L }`,
     * `node(L)` or `agent any` (label null). Jenkins core (hudson.model.Node.canTake,
     * Label.matches): a node with 0 executors takes nothing; an EXCLUSIVE node takes only
     * builds whose label expression matches it; every node carries its own name as a label.
     * Returns null when nothing matches: the real queue then waits forever.
     */
    Map allocate(String label) {
        for (Map n : nodes) {
            if ((n.executors as int) > 0 && takes(n, label)) {
                return n
            }
        }
        for (Map c : clouds) {
            if (takes(c, label)) {
                return c + [executors: 1, cloud: true]
            }
        }
        return null
    }

    private static boolean takes(Map n, String label) {
        if (label == null) {
            return n.mode != 'EXCLUSIVE'
        }
        Set<String> atoms = new HashSet<String>((Collection<String>) n.labels)
        if (n.name) {
            atoms.add(n.name as String)
        }
        return LabelExpression.matches(label, atoms)
    }

    /** What each node and template offers, for the queue's message. */
    String describe() {
        List<String> parts = nodes.collect { Map n -> "node ${n.name} (${n.executors} executors, labels ${n.labels})".toString() }
        parts.addAll(clouds.collect { Map c -> "cloud template ${c.name} (labels ${c.labels})".toString() })
        return parts ? parts.join('; ') : 'no nodes and no cloud templates'
    }
}

/**
 * Jenkins label expressions (hudson.model.labels.LabelExpression): atoms joined by
 * `&&`, `||` and `!`, with parentheses. Anything else is refused here, so a test
 * never passes on an expression the harness cannot judge.
 */
class LabelExpression {
    static boolean matches(String expr, Set<String> atoms) {
        List<String> tokens = expr.trim().findAll(/\(|\)|&&|\|\||!|[^\s()&|!]+/)
        int[] pos = [0] as int[]
        boolean r = or(tokens, pos, atoms)
        if (pos[0] != tokens.size()) {
            throw new IllegalArgumentException("label expression '${expr}' is not understood by the harness")
        }
        return r
    }

    private static boolean or(List<String> t, int[] p, Set<String> a) {
        boolean r = and(t, p, a)
        while (p[0] < t.size() && t[p[0]] == '||') {
            p[0]++
            boolean right = and(t, p, a)
            r = r || right
        }
        return r
    }

    private static boolean and(List<String> t, int[] p, Set<String> a) {
        boolean r = unary(t, p, a)
        while (p[0] < t.size() && t[p[0]] == '&&') {
            p[0]++
            boolean right = unary(t, p, a)
            r = r && right
        }
        return r
    }

    private static boolean unary(List<String> t, int[] p, Set<String> a) {
        if (p[0] >= t.size()) {
            throw new IllegalArgumentException('label expression ends early')
        }
        String tok = t[p[0]++]
        if (tok == '!') {
            return !unary(t, p, a)
        }
        if (tok == '(') {
            boolean r = or(t, p, a)
            if (p[0] >= t.size() || t[p[0]++] != ')') {
                throw new IllegalArgumentException('label expression: missing )')
            }
            return r
        }
        if (tok in ['&&', '||', ')']) {
            throw new IllegalArgumentException("label expression: unexpected ${tok}")
        }
        return a.contains(tok.replaceAll(/^"|"$/, ''))
    }
}
