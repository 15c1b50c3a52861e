package hudson.model

/** Stand-in for hudson.model.User, as far as a Rejection names who rejected an input. */
class User implements Serializable {
    final String id

    User(String id) {
        this.id = id
    }

    String getDisplayName() {
        return id
    }
}
