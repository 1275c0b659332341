/// The mesh: every capability of the edge agent, written against `Host` only.
///
/// One folder per capability (`Host/` is the abstract network interface). This module never
/// touches a real socket, clock, thread or random source.
public enum MeshModule {
    public static let version = "0.1.0"
}
