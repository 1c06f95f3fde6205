import Foundation
import XCTest
@testable import TokShared

/// Keeps the man pages in step with the code: every error code is documented
/// in man/tok.7 (with its summary and retryable flag), and every page exists
/// and is a man page.
final class ManPageTests: XCTestCase {
    static let pages = [
        "tok.7", "tok-protocol.7", "tok-validate.1", "tok-verify.1", "tok-apply.1", "tok-submit.1", "tok-follow.1",
    ]

    /// The repository root: this file is Tests/TokSharedTests/ManPageTests.swift.
    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()
            .deletingLastPathComponent()
            .deletingLastPathComponent()
    }

    static func page(_ name: String) throws -> String {
        let url = repositoryRoot.appendingPathComponent("man").appendingPathComponent(name)
        return try String(contentsOf: url, encoding: .utf8)
    }

    /// The lines of one `.SH` section, without the heading.
    static func section(_ title: String, of text: String) -> [Substring] {
        var lines: [Substring] = []
        var inside = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix(".SH ") {
                let heading = line.dropFirst(4).trimmingCharacters(in: CharacterSet(charactersIn: "\" "))
                inside = heading == title
                continue
            }
            if inside { lines.append(line) }
        }
        return lines
    }

    func testEveryPageExistsAndStartsWithTH() throws {
        for name in ManPageTests.pages {
            let url = ManPageTests.repositoryRoot.appendingPathComponent("man").appendingPathComponent(name)
            XCTAssertTrue(FileManager.default.fileExists(atPath: url.path), "man/\(name) is missing")
            let text = try ManPageTests.page(name)
            XCTAssertTrue(text.hasPrefix(".TH "), "man/\(name) does not start with .TH")
            for required in [".SH NAME", ".SH SYNOPSIS", ".SH DESCRIPTION"] {
                XCTAssertTrue(text.contains("\n\(required)\n"), "man/\(name) has no \(required)")
            }
        }
    }

    func testEveryErrorCodeAppearsInTok7() throws {
        let text = try ManPageTests.page("tok.7")
        for code in ErrorCode.allCases {
            XCTAssertTrue(text.contains(code.rawValue), "man/tok.7 does not mention error code \(code.rawValue)")
        }
    }

    /// Each code has an entry in ERROR CODES: `.B code` (or `.BR code " (retryable)"`
    /// when retryable), followed by its summary from TokError.swift.
    func testErrorCodeTableMatchesTheCode() throws {
        let lines = ManPageTests.section("ERROR CODES", of: try ManPageTests.page("tok.7"))
        XCTAssertFalse(lines.isEmpty, "man/tok.7 has no ERROR CODES section")
        for code in ErrorCode.allCases {
            let label = code.retryable ? ".BR \(code.rawValue) \" (retryable)\"" : ".B \(code.rawValue)"
            guard let index = lines.firstIndex(where: { $0 == label }) else {
                XCTFail("man/tok.7 ERROR CODES has no line \(label)")
                continue
            }
            XCTAssertTrue(index > 0 && lines[index - 1] == ".TP", "\(code.rawValue) is not a .TP entry")
            XCTAssertLessThan(index + 1, lines.count)
            if index + 1 < lines.count {
                let summary = lines[index + 1].replacingOccurrences(of: "\\-", with: "-")
                XCTAssertEqual(
                    summary, code.summary, "man/tok.7 summary of \(code.rawValue) differs from TokError.swift")
            }
        }
        // No stale entries for codes that no longer exist.
        let labels = lines.compactMap { line -> String? in
            if line.hasPrefix(".BR ") && line.hasSuffix(" \" (retryable)\"") {
                return String(line.dropFirst(4).dropLast(" \" (retryable)\"".count))
            }
            if line.hasPrefix(".B "), !line.dropFirst(3).contains(" ") { return String(line.dropFirst(3)) }
            return nil
        }
        let stale = Set(labels).subtracting(ErrorCode.allCases.map(\.rawValue)).sorted()
        XCTAssertEqual(stale, [], "man/tok.7 ERROR CODES lists codes that ErrorCode does not have")
    }

    /// man/tok-protocol.7 lists every anchor reason code with its summary from AnchorReason.swift.
    func testAnchorReasonTableMatchesTheCode() throws {
        let lines = ManPageTests.section("REASON CODES", of: try ManPageTests.page("tok-protocol.7"))
        XCTAssertFalse(lines.isEmpty, "man/tok-protocol.7 has no REASON CODES section")
        for reason in AnchorReason.allCases {
            guard let index = lines.firstIndex(where: { $0 == ".B \(reason.rawValue)" }) else {
                XCTFail("man/tok-protocol.7 REASON CODES has no entry for \(reason.rawValue)")
                continue
            }
            XCTAssertTrue(index > 0 && lines[index - 1] == ".TP", "\(reason.rawValue) is not a .TP entry")
            if index + 1 < lines.count {
                XCTAssertEqual(
                    lines[index + 1].replacingOccurrences(of: "\\-", with: "-"), reason.summary, reason.rawValue)
            }
        }
        let listed = lines.filter { $0.hasPrefix(".B ") && !$0.dropFirst(3).contains(" ") }.map {
            String($0.dropFirst(3))
        }
        XCTAssertEqual(
            Set(listed).subtracting(AnchorReason.allCases.map(\.rawValue)), [],
            "stale reason codes in man/tok-protocol.7")
    }

    /// Every example block in man/tok-protocol.7 GOLDEN VECTORS is the fixture's, byte for byte.
    func testGoldenVectorsInTokProtocol7MatchTheFixture() throws {
        let vectors = try ProtocolVectors.load()
        var expected: [String: String] = [:]
        for key in ["valid", "invalid"] {
            for row in vectors[key]?.arrayElements ?? [] {
                expected[row.string(at: "name") ?? ""] = row.string(at: "data_hex")
            }
        }
        for row in vectors["records"]?.arrayElements ?? [] {
            expected[row.string(at: "name") ?? ""] = row.string(at: "canonical")
        }
        let lines = ManPageTests.section("GOLDEN VECTORS", of: try ManPageTests.page("tok-protocol.7"))
        var checked = 0
        var name: String?
        var block: [Substring]?
        for (index, line) in lines.enumerated() {
            if line == ".TP", index + 1 < lines.count, lines[index + 1].hasPrefix(".B ") {
                name = ManPageTests.unescape(lines[index + 1].dropFirst(3))
            } else if line == ".EX" {
                block = []
            } else if line == ".EE", let text = block, let current = name {
                XCTAssertEqual(
                    ManPageTests.unescape(text.joined()), expected[current], "man/tok-protocol.7 vector \(current)")
                checked += 1
                block = nil
            } else if block != nil {
                block?.append(line)
            }
        }
        XCTAssertGreaterThanOrEqual(checked, 40)
    }

    /// The roff escapes the vectors use: \- for -, \e for a backslash, \[uXXXX] for a character.
    static func unescape(_ text: some StringProtocol) -> String {
        var out = ""
        var rest = Substring(text)
        while let slash = rest.firstIndex(of: "\\") {
            out += rest[..<slash]
            let after = rest[rest.index(after: slash)...]
            if after.hasPrefix("-") {
                out += "-"
                rest = after.dropFirst()
            } else if after.hasPrefix("e") {
                out += "\\"
                rest = after.dropFirst()
            } else if after.hasPrefix("[u"), let close = after.firstIndex(of: "]"),
                let scalar = UInt32(after[after.index(after.startIndex, offsetBy: 2)..<close], radix: 16).flatMap(
                    Unicode.Scalar.init)
            {
                out.unicodeScalars.append(scalar)
                rest = after[after.index(after: close)...]
            } else {
                out += "\\"
                rest = after
            }
        }
        return out + rest
    }
}
