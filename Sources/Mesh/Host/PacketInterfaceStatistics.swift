/// What a packet interface's host did below the mesh's packets, for `edgemesh status`: whether
/// it batches TCP (Linux: the TUN device's segmentation offloads) and what it dropped.
public struct PacketInterfaceStatistics: Equatable, Sendable {
    /// Whether the host hands over large TCP packets and takes joined ones (cut and joined
    /// below the mesh, which sees MTU-sized packets either way).
    public var segmentationOffload: Bool
    /// Large TCP packets read and cut into segments.
    public var segmentedReads: UInt64
    /// Writes that carried several TCP segments joined.
    public var joinedWrites: UInt64
    /// Reads the host could not understand, or packets it queued for the mesh and dropped.
    public var droppedReads: UInt64
    /// Packets the device refused to take.
    public var droppedWrites: UInt64

    public init(segmentationOffload: Bool = false, segmentedReads: UInt64 = 0, joinedWrites: UInt64 = 0, droppedReads: UInt64 = 0,
                droppedWrites: UInt64 = 0) {
        self.segmentationOffload = segmentationOffload
        self.segmentedReads = segmentedReads
        self.joinedWrites = joinedWrites
        self.droppedReads = droppedReads
        self.droppedWrites = droppedWrites
    }
}
