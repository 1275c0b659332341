import Mesh
import NIOCore
import NIOHTTP1

extension Channel {
    /// Writes a bodiless `GET path` to `authority` and flushes it: the first request of an HTTP
    /// exchange or of a WebSocket upgrade (whose upgrade headers the client handler adds).
    func sendGET(authority: String, path: String = "/", headers extra: [(String, String)] = []) {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: authority)
        for (name, value) in extra { headers.add(name: name, value: value) }
        write(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)), promise: nil)
        writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
    }
}
