import Foundation

/// One pcap file per node of a simulation, in one directory: `<dir>/<node>.pcap`. Hosts
/// record what they send and receive; routers record each packet as it arrives and again as it
/// leaves after translation, so a NAT's rewriting is visible side by side.
public final class PcapDirectory {
    public let path: String
    private var writers: [PcapFileWriter] = []
    private var firstError: Error?

    public init(path: String) throws {
        self.path = path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// Starts capturing on every node of `simulator`.
    public func attach(to simulator: Simulator) throws {
        for node in simulator.allNodes {
            let writer = try PcapFileWriter(path: "\(path)/\(node.name).pcap")
            writers.append(writer)
            node.capture = { [weak self] packet, time in
                do {
                    try writer.record(packet, at: time)
                } catch {
                    if self?.firstError == nil { self?.firstError = error }
                }
            }
        }
    }

    /// Flushes and closes every file; reports the first write error of the run, if any.
    public func close() throws {
        for writer in writers { try writer.close() }
        if let firstError { throw firstError }
    }
}
