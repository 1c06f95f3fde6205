import Foundation
import XCTest
@testable import TokShared

/// Keeps the man pages in step with the code: every error code is documented
/// in man/tok.7 (with its summary and retryable flag), and every page exists
/// and is a man page.
final class ManPageTests: XCTestCase {
    static let pages = ["tok.7", "tok-validate.1", "tok-verify.1", "tok-apply.1", "tok-submit.1", "tok-follow.1"]

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
                XCTAssertEqual(summary, code.summary, "man/tok.7 summary of \(code.rawValue) differs from TokError.swift")
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
}
