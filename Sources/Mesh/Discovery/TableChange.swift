/// One change to apply to a `ServiceTable`: what a watch event, a relist or a manifest
/// directory tells it.
public enum TableChange: Hashable, Sendable {
    /// Adds the object, or replaces the one with the same kind and key.
    case upsert(KubernetesObject)
    /// Removes the object with this object's kind and key (a watch DELETED event).
    case delete(KubernetesObject)
    /// Makes `objects` the whole content of `kind` (a relist): objects absent from it are
    /// removed. Objects of another kind in `objects` are ignored; when a key repeats, the
    /// last object wins.
    case replaceAll(kind: TableObjectKind, objects: [KubernetesObject])
}
