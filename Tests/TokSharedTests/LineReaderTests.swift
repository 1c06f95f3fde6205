import Foundation
import XCTest
@testable import TokShared

/// Feeds bytes to a LineReader through a real pipe, written by a separate thread,
/// or through a regular file (whose reads always return full chunks).
final class LineReaderTests: XCTestCase {
    /// What a test sees of one line: its number and either its text or the tooLong facts.
    enum Seen: Equatable, CustomStringConvertible {
        case text(Int, String)
        case tooLong(Int, prefix: [UInt8], total: Int)

        /// Compact, so a failing assertion on a megabyte line stays readable.
        var description: String {
            switch self {
            case .text(let number, let text):
                return
                    "text(\(number), \(text.count > 40 ? "\(text.prefix(20))… (\(text.utf8.count) bytes)" : text.debugDescription))"
            case .tooLong(let number, let prefix, let total):
                return
                    "tooLong(\(number), prefix: \(prefix.count) bytes \(String(decoding: prefix.prefix(12), as: UTF8.self).debugDescription)…, total: \(total))"
            }
        }
    }

    static func seen(_ line: InputLine) -> Seen {
        switch line.content {
        case .bytes(let bytes): return .text(line.number, String(decoding: bytes, as: UTF8.self))
        case .tooLong(let prefix, let total): return .tooLong(line.number, prefix: prefix, total: total)
        }
    }

    /// Writes `chunks` into a pipe from another thread (closing it afterwards) and
    /// reads every batch; the writer pauses between chunks only as the pipe blocks it.
    func readThroughPipe(_ chunks: [[UInt8]], maxLineBytes: Int, maxLines: Int = 1000) throws -> [[InputLine]] {
        var descriptors: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&descriptors), 0)
        let (readEnd, writeEnd) = (descriptors[0], descriptors[1])
        let done = DispatchSemaphore(value: 0)
        let writer = Thread {
            for chunk in chunks {
                var offset = 0
                while offset < chunk.count {
                    let written = chunk.withUnsafeBytes {
                        write(writeEnd, $0.baseAddress! + offset, chunk.count - offset)
                    }
                    if written < 0 { if errno == EINTR { continue } else { break } }
                    offset += written
                }
            }
            close(writeEnd)
            done.signal()
        }
        writer.start()
        defer {
            done.wait()
            close(readEnd)
        }
        let reader = LineReader(fileDescriptor: readEnd, maxLineBytes: maxLineBytes)
        var batches: [[InputLine]] = []
        while true {
            let batch = try reader.nextBatch(maxLines: maxLines)
            if batch.isEmpty { break }
            batches.append(batch)
        }
        return batches
    }

    func readThroughFile(_ bytes: [UInt8], maxLineBytes: Int, maxLines: Int = 1000) throws -> [[InputLine]] {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tok-linereader-\(UUID().uuidString)")
            .path
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let descriptor = open(path, O_RDONLY)
        XCTAssertGreaterThanOrEqual(descriptor, 0)
        defer { close(descriptor) }
        let reader = LineReader(fileDescriptor: descriptor, maxLineBytes: maxLineBytes)
        var batches: [[InputLine]] = []
        while true {
            let batch = try reader.nextBatch(maxLines: maxLines)
            if batch.isEmpty { break }
            batches.append(batch)
        }
        return batches
    }

    func lines(_ text: String, maxLineBytes: Int = 1 << 20) throws -> [Seen] {
        try readThroughPipe([Array(text.utf8)], maxLineBytes: maxLineBytes).flatMap { $0 }.map(LineReaderTests.seen)
    }

    // Lines split on \n and are numbered from 1.
    func testSplitsOnNewline() throws {
        XCTAssertEqual(try lines("a\nbc\n{\"x\":1}\n"), [.text(1, "a"), .text(2, "bc"), .text(3, "{\"x\":1}")])
    }

    // A trailing \r (CRLF input) is stripped; a \r elsewhere is kept.
    func testStripsCarriageReturn() throws {
        XCTAssertEqual(try lines("a\r\nb\rc\r\n\r\n"), [.text(1, "a"), .text(2, "b\rc"), .text(3, "")])
    }

    // A last line without a newline is still returned, with its \r stripped too.
    func testFinalLineWithoutNewline() throws {
        XCTAssertEqual(try lines("a\nlast"), [.text(1, "a"), .text(2, "last")])
        XCTAssertEqual(try lines("only\r"), [.text(1, "only")])
        XCTAssertEqual(try lines(""), [])
        XCTAssertEqual(try lines("\n"), [.text(1, "")])
    }

    // Blank lines are returned (as empty) and count in the numbering.
    func testBlankLinesCountInLineNumbers() throws {
        XCTAssertEqual(
            try lines("a\n\n\nb\n\nc"),
            [.text(1, "a"), .text(2, ""), .text(3, ""), .text(4, "b"), .text(5, ""), .text(6, "c")])
    }

    // A line exactly at the limit is kept; one byte more becomes tooLong with its full size and prefix.
    func testLimitBoundary() throws {
        let atLimit = String(repeating: "x", count: 16)
        let overLimit = String(repeating: "y", count: 17)
        XCTAssertEqual(
            try lines("\(atLimit)\n\(overLimit)\nz\n", maxLineBytes: 16),
            [
                .text(1, atLimit),
                .tooLong(2, prefix: Array(overLimit.utf8), total: 17),
                .text(3, "z"),
            ])
    }

    // A 5 MiB line with a 1 MiB limit, spread over many reads, becomes one tooLong with the
    // exact byte count and a 256-byte prefix, and the line after it is intact and numbered right.
    func testOversizedLineSpanningManyChunksThroughPipe() throws {
        let size = 5 << 20
        var big = [UInt8](repeating: UInt8(ascii: "a"), count: size)
        for index in 0..<300 { big[index] = UInt8(ascii: "0") + UInt8(index % 10) }
        // Written in uneven pieces so the reader sees many partial reads.
        var chunks: [[UInt8]] = [Array("first\n".utf8)]
        var offset = 0
        while offset < size {
            let piece = min(size - offset, 70_001)
            chunks.append(Array(big[offset..<(offset + piece)]))
            offset += piece
        }
        chunks.append(Array("\n{\"next\":true}\n\nlast".utf8))
        let all = try readThroughPipe(chunks, maxLineBytes: 1 << 20).flatMap { $0 }.map(LineReaderTests.seen)
        XCTAssertEqual(
            all,
            [
                .text(1, "first"),
                .tooLong(2, prefix: Array(big[0..<256]), total: size),
                .text(3, "{\"next\":true}"),
                .text(4, ""),
                .text(5, "last"),
            ])
    }

    // The same oversized line read from a regular file (full 64 KiB reads) gives the same result.
    func testOversizedLineSpanningManyChunksFromFile() throws {
        let size = 5 << 20 + 3
        var input = [UInt8](repeating: UInt8(ascii: "b"), count: size)
        input[0] = UInt8(ascii: "{")
        input += Array("\nafter\n".utf8)
        let all = try readThroughFile(input, maxLineBytes: 1 << 20).flatMap { $0 }.map(LineReaderTests.seen)
        XCTAssertEqual(all, [.tooLong(1, prefix: Array(input[0..<256]), total: size), .text(2, "after")])
    }

    // An oversized last line without a newline is still reported as tooLong with its size.
    func testOversizedFinalUnterminatedLine() throws {
        let size = 300_000
        let input = Array("ok\n".utf8) + [UInt8](repeating: UInt8(ascii: "c"), count: size)
        let all = try readThroughFile(input, maxLineBytes: 100_000).flatMap { $0 }.map(LineReaderTests.seen)
        XCTAssertEqual(
            all, [.text(1, "ok"), .tooLong(2, prefix: [UInt8](repeating: UInt8(ascii: "c"), count: 256), total: size)])
    }

    // A short oversized line keeps all its bytes as the prefix when they are fewer than 256.
    func testShortOversizedLinePrefixIsWholeLine() throws {
        XCTAssertEqual(
            try lines("abcdefghijk\nok\n", maxLineBytes: 10),
            [.tooLong(1, prefix: Array("abcdefghijk".utf8), total: 11), .text(2, "ok")])
    }

    // A CRLF line whose content is exactly the limit is accepted whatever the read chunking
    // (here the content plus its \r fill the first 64 KiB read exactly, the \n comes in the next).
    func testCRLFLineAtLimitAcceptedAcrossChunkBoundary() throws {
        let limit = (1 << 16) - 1
        let content = [UInt8](repeating: UInt8(ascii: "d"), count: limit)
        let input = content + Array("\r\nnext\n".utf8)
        let all = try readThroughFile(input, maxLineBytes: limit).flatMap { $0 }.map(LineReaderTests.seen)
        XCTAssertEqual(all.count, 2)
        XCTAssertEqual(
            all.first, .text(1, String(decoding: content, as: UTF8.self)),
            "a \(limit)-byte CRLF line at a \(limit)-byte limit must be kept, as it is when read in one chunk")
        XCTAssertEqual(all.last, .text(2, "next"))
    }

    // The same CRLF line at the limit is accepted when it does not straddle a read boundary.
    func testCRLFLineAtLimitAcceptedWithinOneChunk() throws {
        let content = String(repeating: "e", count: 10)
        XCTAssertEqual(try lines("\(content)\r\nnext\n", maxLineBytes: 10), [.text(1, content), .text(2, "next")])
    }

    // nextBatch never returns more than maxLines, and batches together hold every line in order.
    func testBatchesHoldAtMostMaxLines() throws {
        let text = (1...10).map { "line\($0)" }.joined(separator: "\n") + "\n"
        let batches = try readThroughFile(Array(text.utf8), maxLineBytes: 1024, maxLines: 3)
        XCTAssertEqual(batches.map(\.count), [3, 3, 3, 1])
        XCTAssertEqual(batches.flatMap { $0 }.map(\.number), Array(1...10))
        let piped = try readThroughPipe([Array(text.utf8)], maxLineBytes: 1024, maxLines: 4)
        XCTAssertTrue(piped.allSatisfy { $0.count <= 4 && !$0.isEmpty })
        XCTAssertEqual(piped.flatMap { $0 }.map(LineReaderTests.seen), (1...10).map { .text($0, "line\($0)") })
    }

    // After the end of input, further calls keep returning an empty batch.
    func testEndOfInputIsSticky() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tok-linereader-\(UUID().uuidString)")
            .path
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data("x".utf8)))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let descriptor = open(path, O_RDONLY)
        defer { close(descriptor) }
        let reader = LineReader(fileDescriptor: descriptor, maxLineBytes: 64)
        XCTAssertEqual(try reader.nextBatch(maxLines: 5).map(LineReaderTests.seen), [.text(1, "x")])
        XCTAssertTrue(try reader.nextBatch(maxLines: 5).isEmpty)
        XCTAssertTrue(try reader.nextBatch(maxLines: 5).isEmpty)
        XCTAssertTrue(reader.reachedEnd)
    }

    // A read error surfaces as ReadError.io instead of being taken for end of input.
    func testReadErrorIsThrown() {
        let reader = LineReader(fileDescriptor: -1, maxLineBytes: 64)
        XCTAssertThrowsError(try reader.nextBatch(maxLines: 1)) { error in
            guard case LineReader.ReadError.io(let code) = error else { return XCTFail("unexpected \(error)") }
            XCTAssertEqual(code, EBADF)
        }
    }
}
