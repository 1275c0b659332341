import Mesh
import NetworkTopology

/// A scenario's matrix as measured: per cell, the path most of the workload's successful
/// requests took and its time to first byte (from its first request to the first answer).
public struct MatrixReport: Sendable {
    public struct Cell: Sendable {
        public var row: String
        public var column: String
        public var workload: String
        /// "direct", "hole-punched", "relayed", "local"; nil when nothing succeeded.
        public var path: String?
        /// Nanoseconds from the first request's start to the first successful answer.
        public var timeToFirstByte: UInt64?
        /// False when the testbed cannot build one of the pair (the lab, for a NAT Linux lacks).
        public var judged: Bool = true
    }

    public var title: String
    public var rows: [String]
    public var columns: [String]
    public var cells: [Cell]

    /// Rows down, columns across; each cell "path milliseconds", FAIL where nothing got through.
    public func render() -> String {
        let table = [[""] + columns] + rows.map { row in
            [row] + columns.map { column in
                guard let cell = cells.first(where: { $0.row == row && $0.column == column }) else { return "" }
                guard cell.judged else { return "n/a" }
                guard let path = cell.path, let time = cell.timeToFirstByte else { return "FAIL" }
                return "\(path) \(time / Nanoseconds.millisecond)ms"
            }
        }
        let widths = (0..<table[0].count).map { column in table.map { $0[column].count }.max() ?? 0 }
        let lines = table.map { row in
            row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingTrailingSpaces()
        }
        return ([title] + lines).joined(separator: "\n")
    }
}

extension String {
    fileprivate func trimmingTrailingSpaces() -> String {
        var text = self
        while text.last == " " { text.removeLast() }
        return text
    }
}
