import XCTest
@testable import TokShared

/// StageRunner.parse (line → record or rejection) and the record writers.
final class StageRunnerTests: XCTestCase {
    /// A record as a stage receives it: parsed from a line, original bytes remembered.
    static func record(_ text: String, number: Int = 1, file: StaticString = #filePath, line: UInt = #line) -> JSON {
        let bytes = Array(text.utf8)
        guard let parsed = StageRunner.parse(InputLine(number: number, content: .bytes(bytes[...]))) else {
            XCTFail("parse returned nil for \(text)", file: file, line: line)
            return JSON.object()
        }
        return parsed
    }

    static func parseBytes(_ bytes: [UInt8], number: Int = 7) -> JSON? {
        StageRunner.parse(InputLine(number: number, content: .bytes(bytes[...])))
    }

    static func written(_ record: JSON) -> String {
        var buffer: [UInt8] = []
        record.writeRecord(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    /// Checks the common shape of a read-stage rejection.
    func assertReadRejection(
        _ record: JSON?, code: ErrorCode, line: Int, file: StaticString = #filePath, lineNumber: UInt = #line
    ) {
        guard let record else { return XCTFail("no record", file: file, line: lineNumber) }
        XCTAssertEqual(record.string(at: "status"), "rejected", file: file, line: lineNumber)
        let error = record["error"]
        XCTAssertEqual(error?.string(at: "stage"), "read", file: file, line: lineNumber)
        XCTAssertEqual(error?.string(at: "code"), code.rawValue, file: file, line: lineNumber)
        XCTAssertEqual(error?["line"]?.int64Value, Int64(line), file: file, line: lineNumber)
        XCTAssertEqual(error?["retryable"]?.boolValue, false, file: file, line: lineNumber)
        XCTAssertFalse(error?.string(at: "message")?.isEmpty ?? true, file: file, line: lineNumber)
        XCTAssertEqual(record["input"]?["line"]?.int64Value, Int64(line), file: file, line: lineNumber)
    }

    // MARK: parse

    // A JSON object line becomes that record, unchanged.
    func testObjectLineParses() {
        let record = StageRunnerTests.record("{\"op\":\"deposit\",\"n\":1}")
        XCTAssertEqual(record.string(at: "op"), "deposit")
        XCTAssertEqual(record["n"]?.int64Value, 1)
        XCTAssertFalse(record.has("status"))
    }

    // Blank and whitespace-only lines produce no record at all.
    func testBlankLinesAreSkipped() {
        XCTAssertNil(StageRunnerTests.parseBytes([]))
        XCTAssertNil(StageRunnerTests.parseBytes(Array(" \t  ".utf8)))
    }

    // Malformed JSON → malformed_json with the line number and the raw text kept.
    func testMalformedJSON() {
        let text = "{\"op\":\"deposit\",}"
        let record = StageRunnerTests.parseBytes(Array(text.utf8), number: 7)
        assertReadRejection(record, code: .malformedJSON, line: 7)
        XCTAssertEqual(record?["input"]?.string(at: "raw"), text)
        XCTAssertFalse(record?["input"]?.has("raw_base64") ?? true)
        XCTAssertTrue(record?["error"]?.string(at: "message")?.contains("line 7") ?? false)
    }

    // A JSON array line → not_an_object, raw text kept.
    func testArrayIsNotAnObject() {
        for text in ["[1,2]", "[]", "[{\"op\":\"deposit\"}]"] {
            let record = StageRunnerTests.parseBytes(Array(text.utf8), number: 3)
            assertReadRejection(record, code: .notAnObject, line: 3)
            XCTAssertEqual(record?["input"]?.string(at: "raw"), text)
        }
    }

    // A bare JSON scalar line (valid JSON per RFC 8259) → not_an_object too, not malformed_json.
    func testScalarIsNotAnObject() {
        for text in ["\"text\"", "42", "null", "true"] {
            let record = StageRunnerTests.parseBytes(Array(text.utf8), number: 3)
            assertReadRejection(record, code: .notAnObject, line: 3)
            XCTAssertEqual(record?["input"]?.string(at: "raw"), text)
        }
    }

    // Invalid UTF-8 → malformed_json, the raw bytes kept as base64 (no raw text).
    func testInvalidUTF8() {
        let bytes: [UInt8] = Array("{\"a\":\"".utf8) + [0xFF, 0xFE] + Array("\"}".utf8)
        let record = StageRunnerTests.parseBytes(bytes, number: 2)
        assertReadRejection(record, code: .malformedJSON, line: 2)
        XCTAssertNil(record?["input"]?["raw"])
        XCTAssertEqual(record?["input"]?.string(at: "raw_base64"), "eyJhIjoi//4ifQ==")
        XCTAssertEqual(Base64.encode(bytes), "eyJhIjoi//4ifQ==")
    }

    // Duplicate keys are refused as malformed_json (never "last one wins").
    func testDuplicateKeys() {
        let text = "{\"amount\":\"1\",\"amount\":\"1000\"}"
        let record = StageRunnerTests.parseBytes(Array(text.utf8), number: 4)
        assertReadRejection(record, code: .malformedJSON, line: 4)
        XCTAssertEqual(record?["input"]?.string(at: "raw"), text)
        // Nested duplicates too.
        assertReadRejection(
            StageRunnerTests.parseBytes(Array("{\"a\":{\"b\":1,\"b\":2}}".utf8), number: 5),
            code: .malformedJSON, line: 5)
    }

    // Integers beyond Int64 → number_out_of_range (both signs); Int64's extremes still parse.
    func testIntegerTooBig() {
        for text in [
            "{\"amount\":9223372036854775808}", "{\"a\":[-9223372036854775809]}",
            "{\"amount\":100000000000000000000000000000}",
        ] {
            let record = StageRunnerTests.parseBytes(Array(text.utf8), number: 9)
            assertReadRejection(record, code: .numberOutOfRange, line: 9)
            XCTAssertEqual(record?["input"]?.string(at: "raw"), text)
        }
        let edge = StageRunnerTests.record("{\"max\":9223372036854775807,\"min\":-9223372036854775808}")
        XCTAssertEqual(edge["max"]?.int64Value, .max)
        XCTAssertEqual(edge["min"]?.int64Value, .min)
    }

    // An oversized line → line_too_long with the prefix as text and the total byte count.
    func testOversizedLine() {
        let prefix = Array("{\"op\":\"deposit\",\"pad\":\"".utf8) + [UInt8](repeating: UInt8(ascii: "p"), count: 233)
        XCTAssertEqual(prefix.count, 256)
        let record = StageRunner.parse(InputLine(number: 12, content: .tooLong(prefix: prefix, totalBytes: 5_000_000)))
        assertReadRejection(record, code: .lineTooLong, line: 12)
        XCTAssertEqual(record?["input"]?.string(at: "raw_prefix"), String(decoding: prefix, as: UTF8.self))
        XCTAssertEqual(record?["input"]?["bytes"]?.int64Value, 5_000_000)
        XCTAssertNil(record?["input"]?["raw"])
        XCTAssertTrue(record?["error"]?.string(at: "message")?.contains("5000000") ?? false)
    }

    // An oversized line's prefix cut inside a multi-byte character is cut back to valid UTF-8.
    func testOversizedPrefixCutToUTF8Boundary() {
        let prefix = Array(("a" + String(repeating: "é", count: 200)).utf8.prefix(256))  // ends with half an é
        let record = StageRunner.parse(InputLine(number: 1, content: .tooLong(prefix: prefix, totalBytes: 9999)))
        XCTAssertEqual(record?["input"]?.string(at: "raw_prefix"), "a" + String(repeating: "é", count: 127))
    }

    // MARK: writeRecord

    // An untouched record is written as its original bytes, spacing and key order included.
    func testUntouchedRecordWritesOriginalBytes() {
        for text in ["{\"a\": 1}", "{ \"b\" : [1, 2 ,3], \"a\":{\"z\":null}  }", "{}", "{\"u\":\"\\u00e9\\n\"}"] {
            XCTAssertEqual(StageRunnerTests.written(StageRunnerTests.record(text)), text)
        }
    }

    // Added keys are spliced in before the final brace, in the order they were added.
    func testAddedKeysAppendToOriginalBytes() {
        let record = StageRunnerTests.record("{\"a\": 1 }")
        record.set("status", string: "validated")
        let nested = JSON.object()
        nested.set("x", integer: 2)
        record.set("validated", nested)
        record.set("status", string: "rejected")  // re-setting an added key keeps its place
        XCTAssertEqual(StageRunnerTests.written(record), "{\"a\": 1 ,\"status\":\"rejected\",\"validated\":{\"x\":2}}")
    }

    // An empty original object gets its first added key without a leading comma.
    func testAddedKeyToEmptyObject() {
        let record = StageRunnerTests.record("{ }")
        record.set("k", bool: true)
        XCTAssertEqual(StageRunnerTests.written(record), "{ \"k\":true}")
        let compact = StageRunnerTests.record("{}")
        compact.set("k", integer: -5)
        compact.set("j", .null())
        XCTAssertEqual(StageRunnerTests.written(compact), "{\"k\":-5,\"j\":null}")
    }

    // An added key that needs escaping is escaped in the spliced output.
    func testAddedKeyWithSpecialCharacters() {
        let record = StageRunnerTests.record("{\"a\":1}")
        record.set("we\"ird\n", string: "v")
        let out = StageRunnerTests.written(record)
        XCTAssertEqual(out, "{\"a\":1,\"we\\\"ird\\n\":\"v\"}")
        guard case .success(let reparsed) = JSON.parse(out) else { return XCTFail("not JSON: \(out)") }
        XCTAssertEqual(reparsed.string(at: "we\"ird\n"), "v")
    }

    // Adding then removing a key returns to the original bytes.
    func testAddedThenRemovedKeyGivesOriginal() {
        let record = StageRunnerTests.record("{\"a\":  1}")
        record.set("tmp", integer: 1)
        record.remove("tmp")
        XCTAssertEqual(StageRunnerTests.written(record), "{\"a\":  1}")
    }

    // Replacing an original key falls back to a full (compact) serialisation.
    func testReplacingOriginalKeySerialisesFully() {
        let record = StageRunnerTests.record("{\"a\": 1, \"b\": \"x\"}")
        record.set("a", integer: 2)
        XCTAssertEqual(StageRunnerTests.written(record), "{\"a\":2,\"b\":\"x\"}")
    }

    // Removing an original key falls back to a full serialisation without it.
    func testRemovingOriginalKeySerialisesFully() {
        let record = StageRunnerTests.record("{\"a\": 1, \"attestation\": {\"mac\": \"00\"}, \"c\": true}")
        record.remove("attestation")
        record.set("d", integer: 4)
        XCTAssertEqual(StageRunnerTests.written(record), "{\"a\":1,\"c\":true,\"d\":4}")
    }

    // Records that were built (not read from a line) are serialised in insertion order.
    func testBuiltRecordSerialises() {
        let record = JSON.object()
        record.set("z", integer: 1)
        record.set("a", .array())
        XCTAssertEqual(StageRunnerTests.written(record), "{\"z\":1,\"a\":[]}")
    }

    // MARK: JSONWriter

    // Quotes, backslashes and control characters are escaped; "/" and non-ASCII pass through.
    func testStringEscaping() {
        let value = JSON.string("q\"b\\s/n\nr\rt\tb\u{8}f\u{c}x\u{1}y\u{1f}z\u{7f}é€😀\u{2028}")
        XCTAssertEqual(
            value.serialized(),
            "\"q\\\"b\\\\s/n\\nr\\rt\\tb\\bf\\fx\\u0001y\\u001fz\u{7f}é€😀\u{2028}\"")
        XCTAssertEqual(JSON.string("\u{0}").serialized(), "\"\\u0000\"")
        XCTAssertEqual(JSON.string("").serialized(), "\"\"")
    }

    // Output never spans lines, whatever the strings hold.
    func testSerialisationIsOneLine() {
        let record = JSON.object()
        record.set("a\nb", string: "c\nd\r\ne")
        XCTAssertFalse(record.serialized().utf8.contains(0x0A))
        XCTAssertFalse(record.serialized().utf8.contains(0x0D))
    }

    // Integers are written exactly, Int64's extremes included.
    func testIntegers() {
        for value: Int64 in [0, 1, -1, 9, 10, 99, 100, 12345, -67890, .max, .min, .max - 1, .min + 1] {
            XCTAssertEqual(JSON.integer(value).serialized(), "\(value)")
        }
    }

    // sortKeys orders keys bytewise (UTF-8 order, shorter prefix first) at every level, arrays included.
    func testSortKeysAtEveryLevel() {
        let text = "{\"b\":{\"y\":1,\"x\":[{\"d\":1,\"c\":2}]},\"a\":0,\"é\":1,\"B\":2,\"aa\":3,\"Z\":4,\"_\":6}"
        guard case .success(let value) = JSON.parse(text) else { return XCTFail("parse") }
        XCTAssertEqual(
            value.serialized(sortKeys: true),
            "{\"B\":2,\"Z\":4,\"_\":6,\"a\":0,\"aa\":3,\"b\":{\"x\":[{\"c\":2,\"d\":1}],\"y\":1},\"é\":1}")
        // Without sortKeys the input order is kept.
        XCTAssertEqual(
            value.serialized(),
            "{\"b\":{\"y\":1,\"x\":[{\"d\":1,\"c\":2}]},\"a\":0,\"é\":1,\"B\":2,\"aa\":3,\"Z\":4,\"_\":6}")
    }

    // Serialising and re-parsing gives an equal value for tricky inputs (compared in sorted form).
    func testRoundTrip() {
        let inputs = [
            "{}", "[]", "[[],{},[{}]]", "{\"\":\"\"}",
            "{\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f\"}",
            "{\"u\":\"\\u00e9\\u20ac\\ud83d\\ude00 é € 😀\"}",
            "{\"n\":[0,-0,1,-1,9223372036854775807,-9223372036854775808]}",
            "{\"r\":[0.5,-1.25,1e300,-1E-300,0.1,3.141592653589793,1.0,-0.0,2.5e-5]}",
            "{\"b\":[true,false,null],\"nested\":{\"a\":{\"b\":{\"c\":{\"d\":[1,[2,[3,[4]]]]}}}}}",
            "{\"key with spaces\":1,\"key\\nnewline\":2,\"ключ\":3}",
            "  {\"ws\" :\t[ 1 , 2 ] }  ",
        ]
        for text in inputs {
            guard case .success(let first) = JSON.parse(text) else {
                XCTFail("input does not parse: \(text)")
                continue
            }
            let written = first.serialized()
            guard case .success(let second) = JSON.parse(written) else {
                XCTFail("output does not re-parse: \(written) (from \(text))")
                continue
            }
            XCTAssertEqual(second.serialized(sortKeys: true), first.serialized(sortKeys: true), "for \(text)")
            XCTAssertEqual(second.serialized(), written, "serialisation is not stable for \(text)")
        }
    }
}

extension StageRunnerTests {
    // A rejection record is itself readable by the next stage: a raw NUL byte in the input
    // line must not make the rejection line unparseable downstream.
    func testRejectionOfLineWithNulByteIsReadableDownstream() {
        let bytes: [UInt8] = Array("{\"a\":\"x".utf8) + [0x00] + Array("\"}".utf8)
        guard let rejected = StageRunnerTests.parseBytes(bytes, number: 1) else { return XCTFail("no record") }
        XCTAssertEqual(rejected["error"]?.string(at: "code"), "malformed_json")
        let line = StageRunnerTests.written(rejected)
        guard let downstream = StageRunnerTests.parseBytes(Array(line.utf8), number: 1) else {
            return XCTFail("no record")
        }
        XCTAssertEqual(
            downstream["error"]?.string(at: "code"), "malformed_json",
            "the next stage must see the same rejection, got \(downstream.serialized())")
        XCTAssertEqual(downstream["error"]?.string(at: "stage"), "read")
        XCTAssertNil(
            downstream["input"]?["raw"]?.stringValue?.range(of: "\"status\":\"rejected\""),
            "the rejection was re-wrapped as a new rejection: \(line)")
    }
}
