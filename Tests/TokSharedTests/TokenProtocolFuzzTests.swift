import XCTest
@testable import TokShared

/// Any bytes in, an outcome out. A seeded fuzz of the decoder: random data behind the tag,
/// mutations of the golden vectors, and random output scripts. Each run is the same run (the
/// seeds are fixed), so a failure replays. Beyond "no trap", every outcome must be consistent:
/// a decoded message composes back to exactly the bytes it came from.
final class TokenProtocolFuzzTests: XCTestCase {
    private var seeds: [[UInt8]] = []

    override func setUpWithError() throws {
        let vectors = try ProtocolVectors.load()
        for key in ["valid", "invalid", "unsupported"] {
            seeds += (vectors[key]?.arrayElements ?? []).map { ProtocolVectors.bytes($0.string(at: "data_hex")) }
        }
        XCTAssertGreaterThan(seeds.count, 70)
    }

    /// The outcome must agree with itself: a message re-composes to its data, and a refusal
    /// carries a detail for the operator.
    private func check(_ data: [UInt8], _ outcome: AnchorOutcome, _ counts: inout [String: Int]) {
        switch outcome {
        case .notAnchor:
            counts["not_anchor", default: 0] += 1
            XCTAssertFalse(data.count >= 4 && Array(data.prefix(4)) == TokenProtocol.tag)
        case .message(let message):
            counts["message", default: 0] += 1
            XCTAssertEqual(try? TokenProtocol.compose(message), data, "a decoded message must re-encode to its input")
        case .invalid(let rejection):
            counts[rejection.reason.rawValue, default: 0] += 1
            XCTAssertFalse(rejection.detail.isEmpty)
        case .unsupported(let action, let version):
            counts["unsupported", default: 0] += 1
            XCTAssertEqual([action, version], Array(data[4..<6]))
        }
    }

    func testRandomPayloadsBehindTheTag() {
        var random = SplitMix64(state: 20_261_121)
        var counts: [String: Int] = [:]
        let headers: [[UInt8]] = TokenAction.allCases.flatMap { action in
            [TokenProtocol.fractalVersion, TokenProtocol.tokVersion].map { [action.rawValue, $0] }
        }
        for _ in 0..<40_000 {
            let header = random.below(8) == 0 ? random.bytes(2) : headers[Int(random.below(UInt64(headers.count)))]
            let data = TokenProtocol.tag + header + random.bytes(Int(random.below(80)))
            check(data, TokenProtocol.decode(data: data), &counts)
        }
        XCTAssertGreaterThan(counts.count, 12, "\(counts)")
    }

    func testMutationsOfTheVectors() {
        var random = SplitMix64(state: 0xFE0001FE)
        var counts: [String: Int] = [:]
        for _ in 0..<60_000 {
            var data = seeds[Int(random.below(UInt64(seeds.count)))]
            for _ in 0...random.below(3) { mutate(&data, &random) }
            check(data, TokenProtocol.decode(data: data), &counts)
        }
        XCTAssertGreaterThan(counts["message", default: 0], 100, "\(counts)")
        XCTAssertGreaterThan(counts.count, 20, "\(counts)")
    }

    /// Flip a bit, set a byte, insert, delete, cut, or splice a piece of another vector; the
    /// first six bytes are mostly left alone so the payload reader gets the work.
    private func mutate(_ data: inout [UInt8], _ random: inout SplitMix64) {
        let start = random.below(10) == 0 ? 0 : min(6, data.count)
        let span = UInt64(max(1, data.count - start))
        let at = start + Int(random.below(span))
        switch random.below(6) {
        case 0 where at < data.count: data[at] ^= 1 << UInt8(random.below(8))
        case 1 where at < data.count: data[at] = UInt8(truncatingIfNeeded: random.next())
        case 2: data.insert(UInt8(truncatingIfNeeded: random.next()), at: min(at, data.count))
        case 3 where at < data.count: data.remove(at: at)
        case 4: data = Array(data.prefix(at))
        default:
            let other = seeds[Int(random.below(UInt64(seeds.count)))]
            let from = Int(random.below(UInt64(max(1, other.count))))
            data.insert(
                contentsOf: other[from..<min(other.count, from + Int(random.below(12)))], at: min(at, data.count))
        }
    }

    func testRandomOutputScripts() {
        var random = SplitMix64(state: 0x6A)
        var counts: [String: Int] = [:]
        let pushes: [[UInt8]] = [[], [0x4C], [0x4D], [0x4E], [0x00]]
        for _ in 0..<30_000 {
            let body = seeds[Int(random.below(UInt64(seeds.count)))]
            var script: [UInt8] = [0x6A]
            switch random.below(4) {
            case 0: script += [UInt8(truncatingIfNeeded: body.count)] + body
            case 1:
                script += pushes[Int(random.below(UInt64(pushes.count)))] + random.bytes(Int(random.below(4))) + body
            case 2: script = random.bytes(Int(random.below(90)))
            default:
                script +=
                    [UInt8(random.below(0x4F))] + body.prefix(Int(random.below(UInt64(body.count + 1))))
                    + random.bytes(Int(random.below(3)))
            }
            let outcome = TokenProtocol.decode(outputScript: script)
            if case .message(let message) = outcome {
                XCTAssertEqual(try? TokenProtocol.composeOutputScript(message), script)
            }
            counts["\(outcome)".prefix(8).description, default: 0] += 1
            _ = TokenProtocol.findAnchor(outputScripts: [script, script.reversed()])
        }
        XCTAssertGreaterThan(counts.count, 3, "\(counts)")
    }
}
