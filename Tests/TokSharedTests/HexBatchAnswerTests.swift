import XCTest
@testable import TokShared

/// HexBatchAnswer reads only the shape Core writes, and gives back exactly what the JSON reader
/// would have; anything else is nil (left to the JSON reader).
final class HexBatchAnswerTests: XCTestCase {
    private func read(_ text: String, firstId: Int64 = 7, count: Int = 2) -> [[UInt8]]? {
        HexBatchAnswer.read(Array(text.utf8), firstId: firstId, count: count)
    }

    func testReadsCoresBatchAndSingleAnswers() {
        XCTAssertEqual(
            read("[{\"result\":\"00ff\",\"error\":null,\"id\":7},{\"result\":\"A0b1\",\"error\":null,\"id\":8}]\n"),
            [[0x00, 0xff], [0xa0, 0xb1]])
        // Answers in another order go back to call order; whitespace between tokens is JSON's.
        XCTAssertEqual(
            read("[ {\"result\": \"01\", \"error\": null, \"id\": 8},\n{\"result\":\"\",\"error\":null,\"id\":7} ]"),
            [[], [0x01]])
        XCTAssertEqual(read("{\"result\":\"abcd\",\"error\":null,\"id\":12}\n", firstId: 12, count: 1), [[0xab, 0xcd]])
    }

    func testLeavesEveryOtherShapeToTheJSONReader() {
        let refused = [
            // An error, a result that is not hex, an odd number of digits, an escape, a 0x prefix.
            "[{\"result\":null,\"error\":{\"code\":-5,\"message\":\"Block not found\"},\"id\":7},"
                + "{\"result\":\"00\",\"error\":null,\"id\":8}]",
            "[{\"result\":\"0g\",\"error\":null,\"id\":7},{\"result\":\"00\",\"error\":null,\"id\":8}]",
            "[{\"result\":\"000\",\"error\":null,\"id\":7},{\"result\":\"00\",\"error\":null,\"id\":8}]",
            "[{\"result\":\"0\\u0030\",\"error\":null,\"id\":7},{\"result\":\"00\",\"error\":null,\"id\":8}]",
            "[{\"result\":\"0x00\",\"error\":null,\"id\":7},{\"result\":\"00\",\"error\":null,\"id\":8}]",
            // Ids not asked for, given twice, with a leading zero or a fraction; a missing answer.
            "[{\"result\":\"00\",\"error\":null,\"id\":9},{\"result\":\"00\",\"error\":null,\"id\":8}]",
            "[{\"result\":\"00\",\"error\":null,\"id\":7},{\"result\":\"00\",\"error\":null,\"id\":7}]",
            "[{\"result\":\"00\",\"error\":null,\"id\":07},{\"result\":\"00\",\"error\":null,\"id\":8}]",
            "[{\"result\":\"00\",\"error\":null,\"id\":7.0},{\"result\":\"00\",\"error\":null,\"id\":8}]",
            "[{\"result\":\"00\",\"error\":null,\"id\":7}]",
            // Members in another order or extra; bytes after the answer; no closing bracket.
            "[{\"id\":7,\"result\":\"00\",\"error\":null},{\"result\":\"00\",\"error\":null,\"id\":8}]",
            "[{\"result\":\"00\",\"error\":null,\"id\":7,\"x\":1},{\"result\":\"00\",\"error\":null,\"id\":8}]",
            "[{\"result\":\"00\",\"error\":null,\"id\":7},{\"result\":\"00\",\"error\":null,\"id\":8}] x",
            "[{\"result\":\"00\",\"error\":null,\"id\":7},{\"result\":\"00\",\"error\":null,\"id\":8}",
            "",
        ]
        for text in refused { XCTAssertNil(read(text), text) }
    }
}
