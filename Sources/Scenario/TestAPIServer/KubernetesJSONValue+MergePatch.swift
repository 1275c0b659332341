import Mesh

extension KubernetesJSONValue {
    /// This document with an RFC 7386 JSON merge patch applied: objects merge key by key, `null`
    /// removes a key, anything else replaces. (A strategic merge patch of plain maps such as
    /// annotations and labels merges the same way.)
    func mergePatched(with patch: KubernetesJSONValue) -> KubernetesJSONValue {
        guard case .object(let changes) = patch else { return patch }
        guard case .object(var fields) = self else { return KubernetesJSONValue.object([:]).mergePatched(with: patch) }
        for (key, change) in changes {
            if change == .null {
                fields[key] = nil
            } else {
                fields[key] = (fields[key] ?? .null).mergePatched(with: change)
            }
        }
        return .object(fields)
    }
}
