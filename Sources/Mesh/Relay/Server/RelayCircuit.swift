import NIOCore

/// A circuit between two nodes while the relay sets it up and while it carries bytes.
/// Owned by `RelayServer` and touched only on its loop.
final class RelayCircuit: @unchecked Sendable {
    let initiator: String
    let target: String
    let request: UInt32
    let initiatorToken: RelayToken
    let targetToken: RelayToken
    var initiatorChannel: Channel?
    var targetChannel: Channel?
    var timeout: Scheduled<Void>?
    var isSpliced = false
    var isEnded = false

    init(initiator: String, target: String, request: UInt32, initiatorToken: RelayToken, targetToken: RelayToken) {
        self.initiator = initiator
        self.target = target
        self.request = request
        self.initiatorToken = initiatorToken
        self.targetToken = targetToken
    }

    var nodes: [String] { [initiator, target] }
}
