import Mesh

/// A table the run's summary prints, each cell a client workload shown as the path most of its
/// requests took and its time to first byte: for results that are pairs of something (the NAT
/// matrix: initiator's NAT × responder's NAT). It reports; expectations judge.
public struct MatrixSpec: Hashable, Sendable {
    public struct Cell: Hashable, Sendable {
        public var row: String
        public var column: String
        public var workload: String

        public init(row: String, column: String, workload: String) {
            self.row = row
            self.column = column
            self.workload = workload
        }
    }

    public var title: String
    public var rows: [String]
    public var columns: [String]
    /// At most one per (row, column); a pair without a cell prints empty.
    public var cells: [Cell]

    public init(title: String, rows: [String], columns: [String], cells: [Cell]) {
        self.title = title
        self.rows = rows
        self.columns = columns
        self.cells = cells
    }
}
