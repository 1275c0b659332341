import Mesh
import NIOCore
@testable import Scenario
import Testing

/// The scenario client's cookie jar: what a browser would send back, and when it stops.
struct CookieJarTests {
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    @Test func aSetCookieComesBackOnLaterRequestsWithoutItsAttributes() {
        let jar = CookieJar()
        #expect(jar.header(at: start) == nil)
        jar.store(setCookie: "edgemesh-affinity=\"a1b2\"; Path=/; Max-Age=3600; HttpOnly", at: start)
        jar.store(setCookie: "theme=dark", at: start)
        #expect(jar.header(at: start + .seconds(10)) == "edgemesh-affinity=\"a1b2\"; theme=dark")
    }

    @Test func aCookieIsDroppedWhenItsMaxAgeRunsOut() {
        let jar = CookieJar()
        jar.store(setCookie: "session=s1; max-age=60", at: start)
        #expect(jar.header(at: start + .seconds(59)) == "session=s1")
        #expect(jar.header(at: start + .seconds(60)) == nil)
    }

    @Test func aNewValueReplacesTheOldAndAZeroMaxAgeDeletes() {
        let jar = CookieJar()
        jar.store(setCookie: "a=1", at: start)
        jar.store(setCookie: "b=2", at: start)
        jar.store(setCookie: "a=3", at: start)
        #expect(jar.header(at: start) == "b=2; a=3")
        jar.store(setCookie: "b=gone; Max-Age=0", at: start)
        #expect(jar.header(at: start) == "a=3")
    }

    @Test(arguments: ["", "no-equals-sign", "=value-without-name", " ; Max-Age=10"])
    func aMalformedSetCookieIsIgnored(_ header: String) {
        let jar = CookieJar()
        jar.store(setCookie: "kept=1", at: start)
        jar.store(setCookie: header, at: start)
        #expect(jar.header(at: start) == "kept=1")
    }
}
