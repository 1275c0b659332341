import Mesh
import Testing

/// How manifest YAML scalars become field values: by the type of the field they land in (the
/// manifests are composed without YAML tag resolution), keeping the YAML 1.1 forms users write,
/// and bad values giving errors that name the field.
@Suite struct ManifestScalarTypingTests {
    private func service(_ yaml: String) throws -> Service {
        guard case .service(let service) = try KubernetesObject.decode(yaml: yaml) else {
            throw ServiceExpected()
        }
        return service
    }

    private struct ServiceExpected: Error {}

    private func problem(_ yaml: String) -> DecodingProblem? {
        do {
            _ = try KubernetesObject.decode(yaml: yaml)
            return nil
        } catch .invalidObject(let problem) {
            return problem
        } catch {
            Issue.record("expected an invalid object, got \(error)")
            return nil
        }
    }

    @Test func numbersBooleansAndNullsFollowTheFieldType() throws {
        let service = try service("""
            apiVersion: v1
            kind: Service
            metadata:
              name: web
              labels: {enabled: true, tier: 3, empty: ""}
            spec:
              clusterIP: ~
              publishNotReadyAddresses: yes
              sessionAffinityConfig: {clientIP: {timeoutSeconds: 0x10}}
              ports:
              - {name: http, port: 8_080, targetPort: "9090"}
              - {name: admin, port: 0o17, targetPort: admin}
              - {name: raw, port: 81, targetPort: 8081}
            """)
        // A label value that looks like a bool or a number stays the text the user wrote.
        #expect(service.metadata.labels == ["enabled": "true", "tier": "3", "empty": ""])
        #expect(service.spec.clusterIP == nil)
        #expect(service.spec.publishNotReadyAddresses)
        #expect(service.spec.clientIPTimeoutSeconds == 16)
        #expect(service.spec.ports.map(\.port) == [8080, 15, 81])
        // A quoted number is a port name, an unquoted one a number.
        #expect(service.spec.ports.map(\.targetPort) == [.name("9090"), .name("admin"), .number(8081)])
    }

    @Test func mergeKeysSupplyTheFieldsAMappingLeavesOut() throws {
        let objects = try KubernetesObject.decodeDocuments(yaml: """
            apiVersion: v1
            kind: Service
            metadata: &shared {name: base, namespace: shop, labels: {team: a}}
            spec: {clusterIP: 10.96.0.10, ports: [{port: 80}]}
            ---
            apiVersion: v1
            kind: Service
            metadata:
              <<: *shared
              name: derived
            spec: {clusterIP: 10.96.0.11, ports: [{port: 81}]}
            ---
            apiVersion: v1
            kind: Service
            metadata:
              "<<": {name: ignored}
              name: quoted
            spec: {clusterIP: 10.96.0.12, ports: [{port: 82}]}
            """)
        #expect(objects.skipped.isEmpty)
        let services = objects.objects.compactMap { object -> Service? in
            if case .service(let service) = object { return service }
            return nil
        }
        #expect(services.map(\.key) == [
            ObjectKey(namespace: "shop", name: "base"),
            ObjectKey(namespace: "shop", name: "derived"),
            ObjectKey(namespace: "default", name: "quoted"),
        ])
        #expect(services[1].metadata.labels == ["team": "a"])
    }

    @Test func aQuotedPortNumberIsRejectedNamingTheField() {
        let found = problem("""
            apiVersion: v1
            kind: Service
            metadata: {name: web, namespace: shop}
            spec:
              ports:
              - port: "80"
            """)
        #expect(found?.fieldPath == "spec.ports[0].port")
        #expect(found?.kind == "Service")
        #expect(found?.name == "web")
        #expect(found?.namespace == "shop")
        #expect(found?.reason == "Expected to decode Int but found Scalar instead.")
    }

    @Test func aScalarWhereAListBelongsIsRejectedNamingTheField() {
        let found = problem("""
            apiVersion: v1
            kind: Endpoints
            metadata: {name: web}
            subsets:
            - addresses: 10.0.0.1
            """)
        #expect(found?.fieldPath == "subsets[0].addresses")
        #expect(found?.reason == "Expected to decode Sequence but found Scalar instead.")
    }

    @Test func aMissingRequiredFieldAndAnUnparsableListItemAreNamed() {
        let missing = problem("""
            apiVersion: v1
            kind: Endpoints
            metadata: {name: web}
            subsets:
            - addresses: [{ip: 10.0.0.1}, {hostname: no-ip}]
            """)
        #expect(missing?.fieldPath == "subsets[0].addresses[1].ip")
        #expect(missing?.reason == "required field is missing")

        let badBool = problem("""
            apiVersion: discovery.k8s.io/v1
            kind: EndpointSlice
            metadata: {name: web-abc}
            addressType: IPv4
            endpoints:
            - addresses: [10.0.0.1]
              conditions: {ready: maybe}
            """)
        #expect(badBool?.fieldPath == "endpoints[0].conditions.ready")
        #expect(badBool?.reason == "Expected to decode Bool but found Scalar instead.")
    }

    @Test func endpointTargetReferencesAreValuesNotShared() throws {
        guard case .endpoints(let endpoints) = try KubernetesObject.decode(yaml: """
            apiVersion: v1
            kind: Endpoints
            metadata: {name: web}
            subsets:
            - addresses:
              - {ip: 10.0.0.1, targetRef: {kind: Pod, namespace: default, name: web-1, uid: u-1}}
            """)
        else {
            Issue.record("not decoded as Endpoints")
            return
        }
        let original = try #require(endpoints.subsets.first?.addresses.first?.targetRef)
        #expect(original == ObjectReference(kind: "Pod", namespace: "default", name: "web-1", uid: "u-1"))
        var changed = original
        changed.name = "web-2"
        #expect(original.name == "web-1")
        #expect(changed.name == "web-2")
        #expect(changed != original)
        #expect(Set([original, changed, original]).count == 2)
    }
}
