import Mesh

// MARK: - The matrix

extension ScenarioReader {
    /// `{title, rows: [labels], columns: [labels], cells: [{row, column, workload}]}`; every cell
    /// names a client workload, a known row and column, and a pair no other cell took.
    func matrix(_ value: LocatedNode, workloads: [WorkloadSpec]) throws(ScenarioError) -> MatrixSpec {
        let fields = try self.fields(value, allowed: ["title", "rows", "columns", "cells"])
        let title = try fields["title"].map { value throws(ScenarioError) in try string(value) } ?? "matrix"
        let rows = try labels(required(fields, "rows"), of: "row labels")
        let columns = try labels(required(fields, "columns"), of: "column labels")
        let clients = workloads.filter(\.isClient).map(\.name)
        var cells: [MatrixSpec.Cell] = []
        var taken: [String: String] = [:]
        for item in try list(required(fields, "cells"), of: "cells") {
            let cell = try self.fields(item, allowed: ["row", "column", "workload"])
            let rowValue = try required(cell, "row"), columnValue = try required(cell, "column")
            let row = try scalar(rowValue, "a row label"), column = try scalar(columnValue, "a column label")
            guard rows.contains(row) else { throw unknown(rowValue, "row", row, known: rows) }
            guard columns.contains(column) else { throw unknown(columnValue, "column", column, known: columns) }
            let workloadValue = try required(cell, "workload")
            let workload = try name(workloadValue)
            guard clients.contains(workload) else { throw unknown(workloadValue, "client workload", workload, known: clients) }
            if let other = taken["\(row)\u{0}\(column)"] {
                throw fail(item, "row \"\(row)\", column \"\(column)\" already shows \(other); give each pair one cell")
            }
            taken["\(row)\u{0}\(column)"] = workload
            cells.append(MatrixSpec.Cell(row: row, column: column, workload: workload))
        }
        guard !cells.isEmpty else { throw fail(value, "a matrix needs at least one cell") }
        return MatrixSpec(title: title, rows: rows, columns: columns, cells: cells)
    }

    private func labels(_ value: LocatedNode, of what: String) throws(ScenarioError) -> [String] {
        var labels: [String] = []
        for item in try list(value, of: what) {
            let label = try scalar(item, "a label")
            if labels.contains(label) { throw fail(item, "\"\(label)\" is listed twice") }
            labels.append(label)
        }
        guard !labels.isEmpty else { throw fail(value, "expected at least one of the \(what)") }
        return labels
    }
}
