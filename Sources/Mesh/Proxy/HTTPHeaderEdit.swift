import NIOHTTP1

/// One change a route makes to a request's or a response's headers (a VirtualService's
/// `headers.request` / `headers.response`, or a CORS header the gateway adds).
public enum HTTPHeaderEdit: Hashable, Sendable {
    case remove(String)
    /// Replaces every value of the header.
    case set(String, String)
    /// Adds a value, keeping those already there.
    case add(String, String)

    /// The edits Istio's `HeaderOperations` asks for, in the order they apply: removals, then
    /// sets, then additions, each by name, so a set header can also be added to.
    static func edits(_ operations: VirtualService.HeaderOperations?) -> [HTTPHeaderEdit] {
        guard let operations else { return [] }
        return (operations.remove ?? []).map(HTTPHeaderEdit.remove)
            + (operations.set ?? [:]).sorted { $0.key < $1.key }.map { .set($0.key, $0.value) }
            + (operations.add ?? [:]).sorted { $0.key < $1.key }.map { .add($0.key, $0.value) }
    }

    /// `edits` applied to `headers`, in order.
    static func apply(_ edits: [HTTPHeaderEdit], to headers: inout HTTPHeaders) {
        for edit in edits {
            switch edit {
            case .remove(let name): headers.remove(name: name)
            case .set(let name, let value): headers.replaceOrAdd(name: name, value: value)
            case .add(let name, let value): headers.add(name: name, value: value)
            }
        }
    }
}
