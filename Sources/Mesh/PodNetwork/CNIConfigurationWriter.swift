import Logging
import NIOCore

/// Keeps this node's CNI network configuration file current: written once the node's pod
/// network is known, rewritten when it changes, never removed (a runtime without it cannot
/// start pods; an agent restarting must not leave that gap).
///
/// The directory is a `DurableStore` (on Linux the runtime's `/etc/cni/net.d`, written whole
/// and renamed into place, so the runtime never reads half a file). Confined to the host's
/// event loop.
public final class CNIConfigurationWriter: @unchecked Sendable {
    private let directory: DurableStore
    private let logger: Logger
    /// What was written last, or is being written.
    public private(set) var written: CNINetworkConfiguration?

    public init(directory: DurableStore, logger: Logger) {
        self.directory = directory
        self.logger = logger
    }

    /// Writes `configuration` unless it is what the file holds already; nil (no pod network
    /// known yet) leaves the file as it is.
    public func update(_ configuration: CNINetworkConfiguration?) {
        guard let configuration, configuration != written else { return }
        written = configuration
        directory.save(CNINetworkConfiguration.fileName, ByteBuffer(string: configuration.conflist)).whenComplete { result in
            switch result {
            case .success:
                self.logger.notice("edge CNI: wrote \(CNINetworkConfiguration.fileName) for pod networks \(configuration.podNetworks.map(\.description).joined(separator: ", "))")
            case .failure(let error):
                // Tried again at the next change of the table.
                if self.written == configuration { self.written = nil }
                self.logger.error("edge CNI: \(CNINetworkConfiguration.fileName) not written: \(error)")
            }
        }
    }
}
