import Mesh
import NIOCore

/// A node's durable store: a map kept by the node, not by its kernel, so it survives a
/// simulated crash the way a disk survives a power cut.
final class SimDurableStore: DurableStore, @unchecked Sendable {
    private let loop: EventLoop
    private var values: [String: ByteBuffer] = [:]

    init(loop: EventLoop) {
        self.loop = loop
    }

    func load(_ key: String) -> EventLoopFuture<ByteBuffer?> {
        guard Self.isValidKey(key) else { return loop.makeFailedFuture(invalid(key)) }
        return loop.makeSucceededFuture(values[key])
    }

    func save(_ key: String, _ value: ByteBuffer) -> EventLoopFuture<Void> {
        guard Self.isValidKey(key) else { return loop.makeFailedFuture(invalid(key)) }
        values[key] = value
        return loop.makeSucceededVoidFuture()
    }

    func remove(_ key: String) -> EventLoopFuture<Void> {
        guard Self.isValidKey(key) else { return loop.makeFailedFuture(invalid(key)) }
        values[key] = nil
        return loop.makeSucceededVoidFuture()
    }

    private func invalid(_ key: String) -> HostError {
        .storeFailure(key: key, reason: "keys are 1-128 letters, digits, '-', '_' or '.'")
    }
}
