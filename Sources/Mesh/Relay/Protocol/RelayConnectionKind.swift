/// The first four bytes a node writes on a connection to a relay say what the connection is:
/// a control connection (a Noise handshake follows) or a data connection (a circuit token
/// follows, then the circuit's bytes). Anything else gets no answer.
enum RelayConnectionKind: CaseIterable {
    case control
    case data

    static let magicLength = 4

    var magic: [UInt8] {
        switch self {
        case .control: Array("EMRC".utf8)
        case .data: Array("EMRD".utf8)
        }
    }

    init?(magic: [UInt8]) {
        guard let kind = Self.allCases.first(where: { $0.magic == magic }) else { return nil }
        self = kind
    }

    /// The byte a relay writes on both data connections of a circuit once it splices them.
    static let splicedSignal: UInt8 = 0x01
}
