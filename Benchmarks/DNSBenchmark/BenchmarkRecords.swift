/// The record set every server in the benchmark serves: `services` ClusterIP services in the
/// default namespace with `endpointsPerService` ready endpoints each, as Kubernetes manifests for
/// the agent and as plain A records for the peers.
struct BenchmarkRecords {
    var services: Int
    var endpointsPerService: Int

    func name(_ index: Int) -> String { "svc-\(index).default.svc.cluster.local" }
    func clusterIP(_ index: Int) -> String { "10.96.\(index / 250).\(index % 250 + 1)" }
    func endpointIP(_ index: Int, _ endpoint: Int) -> String {
        let n = index * endpointsPerService + endpoint
        return "10.244.\(n / 250).\(n % 250 + 1)"
    }

    /// One multi-document YAML file: a Service and its Endpoints per service.
    var manifests: String {
        (0..<services).map { index in
            let addresses = (0..<endpointsPerService).map { "{ip: \(endpointIP(index, $0))}" }.joined(separator: ", ")
            return """
                apiVersion: v1
                kind: Service
                metadata: {name: svc-\(index), namespace: default}
                spec:
                  clusterIP: \(clusterIP(index))
                  ports: [{name: http, port: 80, protocol: TCP}]
                ---
                apiVersion: v1
                kind: Endpoints
                metadata: {name: svc-\(index), namespace: default}
                subsets:
                - addresses: [\(addresses)]
                  ports: [{name: http, port: 8080, protocol: TCP}]
                """
        }.joined(separator: "\n---\n") + "\n"
    }

    /// dnsperf's input: every service name once, type A.
    var queryFile: String {
        (0..<services).map { "\(name($0)) A" }.joined(separator: "\n") + "\n"
    }

    func dnsmasqConfiguration(port: Int) -> String {
        var lines = ["port=\(port)", "listen-address=127.0.0.1", "bind-interfaces", "no-resolv", "no-hosts", "local-ttl=30", "user=root"]
        lines += (0..<services).map { "host-record=\(name($0)),\(clusterIP($0))" }
        return lines.joined(separator: "\n") + "\n"
    }

    func unboundConfiguration(port: Int) -> String {
        var lines = [
            "server:", "  interface: 127.0.0.1", "  port: \(port)", "  do-daemonize: no", "  username: \"\"", "  chroot: \"\"",
            "  pidfile: \"\"", "  use-syslog: no", "  logfile: \"\"", "  verbosity: 0", "  num-threads: 1", "  do-ip6: no",
            "  access-control: 127.0.0.0/8 allow", "  module-config: \"iterator\"", "  local-zone: \"cluster.local.\" static",
        ]
        lines += (0..<services).map { "  local-data: \"\(name($0)). 30 IN A \(clusterIP($0))\"" }
        return lines.joined(separator: "\n") + "\n"
    }
}
