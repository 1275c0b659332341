import NIOCore

/// What a reflector is doing, for status output and tests.
public struct KubernetesReflectorStatus: Hashable, Sendable, CustomStringConvertible {
    public enum Phase: Hashable, Sendable {
        case idle
        case listing
        case watching
        /// Waiting until `until` (host clock) after `delay`, then watching again or, when
        /// `relist`, listing again.
        case backingOff(until: NIODeadline, delay: TimeAmount, relist: Bool)
        case stopped
        /// The server does not serve this resource (404 on the list): the reflector gave up,
        /// as a client of an older cluster (or a metaServer) must for EndpointSlices.
        case notServed
    }

    public var resource: KubernetesResource
    public var phase: Phase = .idle
    /// The version the next watch resumes from (the last list's, event's or bookmark's).
    public var resourceVersion: String?
    /// Connections made after the first one (re-watches and relists).
    public var reconnectCount = 0
    /// Lists done, the first included.
    public var listCount = 0
    /// Consecutive attempts without progress; picks the backoff ceiling.
    public var failedAttempts = 0
    public var lastError: String?

    public var description: String {
        let phase: String
        switch self.phase {
        case .idle: phase = "idle"
        case .listing: phase = "listing"
        case .watching: phase = "watching"
        case .backingOff(_, let delay, let relist):
            phase = "backing off \(delay.nanoseconds / 1_000_000) ms before \(relist ? "relisting" : "re-watching")"
        case .stopped: phase = "stopped"
        case .notServed: phase = "not served by this API server"
        }
        var text = "\(resource.plural): \(phase), resourceVersion \(resourceVersion ?? "none"), \(listCount) lists, \(reconnectCount) reconnects"
        if let lastError { text += ", last error: \(lastError)" }
        return text
    }
}
