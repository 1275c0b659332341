import Foundation
import Mesh

/// A list or watch request's `fieldSelector` as the test API server applies it: equality terms
/// on dotted fields, joined by commas (`type=kubernetes.io/tls`, `metadata.name=web`), as the
/// real server has them for the fields each kind supports. Empty selects everything.
struct FieldSelector {
    private var terms: [(path: [String], value: String)] = []

    /// `text` as it came in the query, percent-encoded or not.
    init(_ text: String) {
        let decoded = text.removingPercentEncoding ?? text
        for term in decoded.split(separator: ",") {
            let parts = term.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else { continue }
            terms.append((parts[0].split(separator: ".").map(String.init), String(parts[1])))
        }
    }

    func matches(_ object: KubernetesJSONValue) -> Bool {
        terms.allSatisfy { term in
            var value: KubernetesJSONValue? = object
            for key in term.path { value = value?[key] }
            return value?.stringValue == term.value
        }
    }
}
