import Mesh

// MARK: - Certificates for HTTPS workloads

extension ScenarioReader {
    /// An HTTPS server's chain and key from the `kubernetes.io/tls` Secret named at `value`,
    /// checked now so that a bad certificate fails validation rather than the run.
    func serverTLS(_ value: LocatedNode, secrets: ScenarioSecrets) throws(ScenarioError) -> WorkloadSpec.ServerTLS {
        let (reference, secret) = try self.secret(value, secrets: secrets)
        guard let chain = secret.value(forKey: "tls.crt"), let key = secret.value(forKey: "tls.key") else {
            throw fail(value, "Secret \(reference) needs tls.crt and tls.key (a kubernetes.io/tls Secret)")
        }
        do { _ = try WorkloadTLS.serverContext(certificateChainPEM: chain, privateKeyPEM: key) } catch {
            throw fail(value, "Secret \(reference): \(error)")
        }
        return WorkloadSpec.ServerTLS(secret: reference, certificateChainPEM: chain, privateKeyPEM: key)
    }

    /// The authorities an HTTPS client trusts: `ca.crt` of the Secret named at `value`, else its
    /// `tls.crt` (a self-signed server certificate trusted as it is).
    func trustedAuthorities(_ value: LocatedNode, secrets: ScenarioSecrets) throws(ScenarioError) -> [UInt8] {
        let (reference, secret) = try self.secret(value, secrets: secrets)
        let field = secret.value(forKey: "ca.crt") != nil ? "ca.crt" : "tls.crt"
        guard let pem = secret.value(forKey: field) else {
            throw fail(value, "Secret \(reference) has neither ca.crt nor tls.crt to trust")
        }
        do { _ = try WorkloadTLS.clientContext(trustedPEM: pem, field: field) } catch {
            throw fail(value, "Secret \(reference): \(error)")
        }
        return pem
    }

    private func secret(_ value: LocatedNode, secrets: ScenarioSecrets) throws(ScenarioError) -> (String, Secret) {
        let written = try scalar(value, "a Secret name (name or namespace/name)")
        let reference = ScenarioSecrets.qualified(written)
        let found: Secret?
        do { found = try secrets.secret(written) } catch {
            throw fail(value, "Secret \(reference) cannot be read: \(error)")
        }
        guard let found else {
            let known = secrets.known
            throw fail(
                value,
                "no Secret \(reference) among the scenario's Kubernetes objects (Secrets: "
                    + "\(known.isEmpty ? "none" : known.joined(separator: ", ")))")
        }
        return (reference, found)
    }
}
