#if os(Linux)
import Foundation
import Glibc

/// A scripted HTTP server on 127.0.0.1 for SocketHTTPClient's tests: it reads each request
/// (headers and a Content-Length body) and does what `handler` says, byte for byte, so tests
/// can send well-formed, chunked, truncated, garbage or no answers at all. Blocking sockets,
/// a thread per connection; stop() ends them all.
final class LoopbackHTTPServer: @unchecked Sendable {
    struct Request {
        let head: String
        let body: [UInt8]
        /// 0 for the first connection the server accepted, 1 for the next…
        let connection: Int
        /// 0 for the first request on its connection.
        let indexOnConnection: Int

        func header(_ name: String) -> String? {
            for line in head.split(separator: "\r\n").dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                if line[..<colon].lowercased() == name.lowercased() {
                    return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
            }
            return nil
        }
    }

    enum Action {
        /// Writes these bytes (in pieces of `pieceBytes` when set); closes afterwards when `close`.
        case send([UInt8], close: Bool, pieceBytes: Int? = nil)
        /// Closes the connection without a byte of answer.
        case close
        /// Never answers: the connection stays open until the server stops.
        case stall
    }

    let port: UInt16
    private let listener: Int32
    private let handler: @Sendable (Request) -> Action
    private let lock = NSLock()
    private var accepted = 0
    private var requests = 0
    private var descriptors: Set<Int32> = []
    private var stopped = false

    init(handler: @escaping @Sendable (Request) -> Action) throws {
        self.handler = handler
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw LoopbackHTTPServer.failure("socket") }
        var on: Int32 = 1
        _ = setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(descriptor, 16) == 0 else {
            _ = close(descriptor)
            throw LoopbackHTTPServer.failure("bind/listen")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        listener = descriptor
        port = UInt16(bigEndian: address.sin_port)
        Thread { [self] in acceptLoop() }.start()
    }

    var url: String { "http://127.0.0.1:\(port)/" }

    /// Connections accepted so far.
    var acceptedConnections: Int {
        lock.lock()
        defer { lock.unlock() }
        return accepted
    }

    var requestCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return requests
    }

    func stop() {
        lock.lock()
        stopped = true
        let open = descriptors
        lock.unlock()
        _ = shutdown(listener, Int32(SHUT_RDWR))
        for descriptor in open { _ = shutdown(descriptor, Int32(SHUT_RDWR)) }
    }

    deinit {
        stop()
        _ = close(listener)
    }

    private func acceptLoop() {
        while true {
            let descriptor = accept(listener, nil, nil)
            if descriptor < 0 {
                if errno == EINTR { continue }
                return
            }
            lock.lock()
            if stopped {
                lock.unlock()
                _ = close(descriptor)
                return
            }
            let index = accepted
            accepted += 1
            descriptors.insert(descriptor)
            lock.unlock()
            Thread { [self] in serve(descriptor, connection: index) }.start()
        }
    }

    private func serve(_ descriptor: Int32, connection: Int) {
        defer {
            lock.lock()
            descriptors.remove(descriptor)
            lock.unlock()
            _ = close(descriptor)
        }
        var buffer: [UInt8] = []
        var index = 0
        while let request = readRequest(descriptor, &buffer, connection: connection, index: index) {
            index += 1
            lock.lock()
            requests += 1
            lock.unlock()
            switch handler(request) {
            case .send(let bytes, let closeAfter, let pieceBytes):
                var sent = 0
                while sent < bytes.count {
                    let piece = min(bytes.count - sent, pieceBytes ?? bytes.count)
                    let count = bytes.withUnsafeBytes {
                        send(descriptor, $0.baseAddress! + sent, piece, Int32(MSG_NOSIGNAL))
                    }
                    if count <= 0 { return }
                    sent += count
                }
                if closeAfter { return }
            case .close:
                return
            case .stall:
                var byte: UInt8 = 0
                while recv(descriptor, &byte, 1, 0) > 0 {}
                return
            }
        }
    }

    private func readRequest(_ descriptor: Int32, _ buffer: inout [UInt8], connection: Int, index: Int) -> Request? {
        let separator: [UInt8] = [13, 10, 13, 10]
        var headEnd: Int?
        while true {
            if buffer.count >= 4 {
                headEnd = (0...(buffer.count - 4)).first { Array(buffer[$0..<$0 + 4]) == separator }
            }
            if headEnd != nil { break }
            guard readMore(descriptor, &buffer) else { return nil }
        }
        let head = String(decoding: buffer[..<headEnd!], as: UTF8.self)
        buffer.removeSubrange(..<(headEnd! + 4))
        let partial = Request(head: head, body: [], connection: connection, indexOnConnection: index)
        let length = Int(partial.header("Content-Length") ?? "0") ?? 0
        while buffer.count < length {
            guard readMore(descriptor, &buffer) else { return nil }
        }
        let body = Array(buffer[..<length])
        buffer.removeSubrange(..<length)
        return Request(head: head, body: body, connection: connection, indexOnConnection: index)
    }

    private func readMore(_ descriptor: Int32, _ buffer: inout [UInt8]) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 16 << 10)
        let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress!, $0.count, 0) }
        guard count > 0 else { return false }
        buffer.append(contentsOf: chunk[..<count])
        return true
    }

    private static func failure(_ what: String) -> NSError {
        NSError(
            domain: "LoopbackHTTPServer", code: Int(errno),
            userInfo: [NSLocalizedDescriptionKey: "\(what): \(String(cString: strerror(errno)))"])
    }

    // MARK: Answers

    static func answer(_ body: String, status: String = "200 OK", headers: [String] = []) -> [UInt8] {
        let bytes = Array(body.utf8)
        var head = "HTTP/1.1 \(status)\r\nContent-Type: application/json\r\nContent-Length: \(bytes.count)\r\n"
        for header in headers { head += header + "\r\n" }
        return Array((head + "\r\n").utf8) + bytes
    }

    static func chunked(_ pieces: [String], trailer: String = "") -> [UInt8] {
        var text = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        for piece in pieces { text += String(piece.utf8.count, radix: 16) + ";ext=1\r\n" + piece + "\r\n" }
        text += "0\r\n" + trailer + "\r\n"
        return Array(text.utf8)
    }
}
#endif
