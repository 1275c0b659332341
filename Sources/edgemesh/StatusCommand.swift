import ArgumentParser
import Foundation
import Mesh
import NIOCore
import NIOPosix

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the local agent's tunnel: each peer with its path, RTT, bytes, and why a path failed.",
        discussion: """
            Asks the agent's local status endpoint (GET /tunnel/status). Exit status 1 when the \
            agent does not answer.
            """
    )

    @Option(help: "The agent's status endpoint, ip:port.")
    var agent: String = "127.0.0.1:\(TunnelStatusServer.defaultPort)"

    @Flag(help: "Print the raw JSON report.")
    var json = false

    func run() throws {
        let parts = agent.split(separator: ":")
        guard parts.count == 2, IPv4Address(parts[0]) != nil, let port = Int(parts[1]) else {
            throw ValidationError("--agent \"\(agent)\" is not ip:port")
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { try? group.syncShutdownGracefully() }
        let collector = ResponseCollector(promise: group.next().makePromise())
        let response: ByteBuffer
        do {
            let channel = try ClientBootstrap(group: group)
                .connectTimeout(.seconds(3))
                .channelInitializer { $0.pipeline.addHandler(collector) }
                .connect(host: String(parts[0]), port: port).wait()
            channel.writeAndFlush(ByteBuffer(string: "GET \(TunnelStatusServer.path) HTTP/1.1\r\nHost: \(agent)\r\nConnection: close\r\n\r\n"), promise: nil)
            response = try collector.promise.futureResult.wait()
        } catch {
            printError("edgemesh status: the agent at \(agent) did not answer (\(error)); is `edgemesh agent` running with the tunnel enabled?")
            throw ExitCode.failure
        }
        let text = String(buffer: response)
        guard let split = text.range(of: "\r\n\r\n"), text.hasPrefix("HTTP/1.1 200") else {
            printError("edgemesh status: unexpected answer from \(agent): \(text.prefix(200))")
            throw ExitCode.failure
        }
        let body = Data(text[split.upperBound...].utf8)
        if json {
            print(String(decoding: body, as: UTF8.self))
        } else {
            print(try TunnelStatusReport.decode(body).text)
        }
    }
}

/// Gathers a whole HTTP response (the server closes after it).
private final class ResponseCollector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let promise: EventLoopPromise<ByteBuffer>
    private var received = ByteBuffer()

    init(promise: EventLoopPromise<ByteBuffer>) {
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        received.writeBuffer(&buffer)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.succeed(received)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        promise.fail(error)
        context.close(promise: nil)
    }
}
