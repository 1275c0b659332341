import NIOCore

/// What every tunnel connection of this node shares: who we are (host, key), the settings, whom
/// we trust (the key directory), the handshake replay filter, the dialer that reaches targets
/// for peers' streams and the budget their receive windows come from.
///
/// Confined to the host's event loop.
final class TunnelEndpoint: @unchecked Sendable {
    let host: any Host
    let identity: TunnelIdentity
    let configuration: TunnelConfiguration
    let keys: any PeerKeyDirectory
    let targetDialer: TunnelTargetDialer
    /// Every stream's receive window comes out of this.
    let receiveBudget: TunnelReceiveBudget
    /// Gates initiations addressed to us.
    let responderGate: HandshakeInitiationGate
    private var replayFilter: HandshakeReplayFilter
    /// Takes each pod-network packet a peer sends, with the peer's node name; packets are
    /// dropped while nobody takes them.
    var packetReceiver: ((String, ByteBuffer) -> Void)?
    /// The UDP socket datagram sessions use; nil when datagrams are off.
    var datagramSocket: TunnelDatagramSocket?
    /// The UDP endpoints this node offers peers for datagrams.
    var datagramCandidates: () -> [TunnelEndpointAddress] = { [] }

    /// Mixed into every handshake, so a different protocol's Noise handshake cannot be mistaken
    /// for ours.
    static let prologue = Array("edgemesh tunnel v1".utf8)

    init(host: any Host, identity: TunnelIdentity, configuration: TunnelConfiguration, keys: any PeerKeyDirectory) {
        self.host = host
        self.identity = identity
        self.configuration = configuration
        self.keys = keys
        self.targetDialer = TunnelTargetDialer(host: host, configuration: configuration)
        self.receiveBudget = TunnelReceiveBudget(capacity: configuration.receiveBudget)
        self.responderGate = HandshakeInitiationGate(
            presharedKey: configuration.presharedKey, responderStaticKey: identity.keyPair.publicKey)
        self.replayFilter = HandshakeReplayFilter(window: configuration.handshakeClockWindow.nanoseconds)
    }

    var nodeName: String { host.name }

    /// Admits an initiation (after its MAC verified) or says why it is ignored.
    func admitInitiation(timestamp: Int64, mac: [UInt8]) throws(TunnelHandshakeRejection) {
        try replayFilter.admit(timestamp: timestamp, mac: mac, now: host.wallClock.nanosecondsSinceEpoch)
    }
}
