import XCTest

@testable import TokShared

/// FastJSONParser's contract: on any text it does not give up on, jansson
/// returns an equal value (same kinds, same members in the same order).
final class FastJSONParserTests: XCTestCase {
    /// Parses `bytes` both ways; returns whether the fast parser took the text.
    @discardableResult
    private func checkAgainstJansson(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) -> Bool {
        bytes.withUnsafeBytes { buffer in
            guard let fast = FastJSONParser.parse(buffer).map(JSON.init(owning:)) else { return false }
            switch JSON.parseWithJansson(buffer) {
            case .success(let reference):
                XCTAssertEqual(
                    fast.serialized(), reference.serialized(), "text: \(String(decoding: bytes, as: UTF8.self))",
                    file: file, line: line)
            case .failure(let failure):
                XCTFail(
                    "fast parser took \(String(decoding: bytes, as: UTF8.self)), jansson refused it: \(failure.message)",
                    file: file, line: line)
            }
            return true
        }
    }

    func testTakesTheUsualShapes() {
        let taken = [
            #"{"op":"deposit","id":"dep-0","source":{"account":"0xd2","network":"evm-local"},"deposit":{"tx":"0x1f"}}"#,
            #" {"a" : [1, -2, 0, -0, true,false,null, "x", {}, [ ]] } "#,
            #""text""#, "0", "-7", "123456789012345678", #"{"":""}"#, "[]", "\t{}\r\n", "null",
        ]
        for text in taken { XCTAssertTrue(checkAgainstJansson(Array(text.utf8)), text) }
    }

    func testLeavesEverythingElseToJansson() {
        let left = [
            // Valid, but not the usual shape.
            #""caf\u00e9""#, #""a\"b""#, "1.5", "1e3", "2E-1", "1234567890123456789", "\"é\"",
            String(repeating: "[", count: 40) + String(repeating: "]", count: 40),
            // Not JSON, or refused by jansson.
            #"{"a":1,"a":2}"#, #"{"a":1,}"#, "[1,]", "01", "-", "-x", "truex", "nul", #"{"a" 1}"#, "\"\u{1}\"",
            #"{"a":1} x"#, #"{"a":1}}"#, "[1 2]", "{1:2}", "", "   ", "\"open", "{", "[", "}", "+1", ".5",
        ]
        for text in left { XCTAssertFalse(checkAgainstJansson(Array(text.utf8)), text) }
    }

    /// Random texts, valid and mutated, checked against jansson (seeded: a failure replays exactly).
    func testAgreesWithJanssonOnRandomTexts() {
        var random = SplitMix64(state: 0x746f_6b2d_6a73_6f6e)
        var taken = 0
        let cases = 20000
        for _ in 0..<cases {
            var bytes = Array(randomValue(&random, depth: 0).utf8)
            if random.next() % 2 == 0 { mutate(&bytes, &random) }
            if checkAgainstJansson(bytes) { taken += 1 }
        }
        // The check means something only if a good share of texts took the fast path.
        XCTAssertGreaterThan(taken, cases / 5)
    }

    private func randomValue(_ random: inout SplitMix64, depth: Int) -> String {
        let space = [" ", "", "", "\t", "\n", "\r\n"]
        func pad() -> String { space[Int(random.next() % UInt64(space.count))] }
        switch random.next() % (depth > 3 ? 4 : 6) {
        case 0:
            let pieces = ["a", "B", "-", " ", ":", "\\\"", "\\n", "\\u0041", "\\u0000", "é", "\u{1}", "~"]
            // Mostly plain characters; now and then an escape, a control character or non-ASCII.
            let characters = (0..<Int(random.next() % 5)).map { _ in
                pieces[Int(random.next() % UInt64(random.next() % 4 == 0 ? pieces.count : 5))]
            }
            return "\"" + characters.joined() + "\""
        case 1:
            let numbers = [
                "0", "-0", "7", "-12", "007", "1.0", "3e2", "-", "99999999999999999999", "123456789012345678",
            ]
            return numbers[Int(random.next() % UInt64(numbers.count))]
        case 2: return ["true", "false", "null", "tru", "nulll"][Int(random.next() % 5)]
        case 3: return String(random.next() % 1000)
        case 4:
            let count = Int(random.next() % 4)
            let members = (0..<count).map { index in
                let key = random.next() % 7 == 0 ? "k" : "k\(index)"
                return pad() + "\"\(key)\"" + pad() + ":" + pad() + randomValue(&random, depth: depth + 1) + pad()
            }
            return "{" + pad() + members.joined(separator: ",") + "}"
        default:
            let count = Int(random.next() % 4)
            let elements = (0..<count).map { _ in pad() + randomValue(&random, depth: depth + 1) + pad() }
            return "[" + elements.joined(separator: ",") + pad() + "]"
        }
    }

    private func mutate(_ bytes: inout [UInt8], _ random: inout SplitMix64) {
        let alphabet = Array("{}[],:\"\\ -0123456789eE.tfnrul\t\n\r\u{0}aé".utf8)
        for _ in 0..<(1 + Int(random.next() % 3)) {
            let position = bytes.isEmpty ? 0 : Int(random.next() % UInt64(bytes.count))
            switch random.next() % 3 {
            case 0 where !bytes.isEmpty: bytes.remove(at: position)
            case 1: bytes.insert(alphabet[Int(random.next() % UInt64(alphabet.count))], at: position)
            default:
                if !bytes.isEmpty { bytes[position] = alphabet[Int(random.next() % UInt64(alphabet.count))] }
            }
        }
    }
}
