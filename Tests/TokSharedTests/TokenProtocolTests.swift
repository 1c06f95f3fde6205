import XCTest
@testable import TokShared

/// The wire protocol of man/tok-protocol.7 against the golden vectors, and its rules one by one.
final class TokenProtocolTests: XCTestCase {
    private var vectors: JSON!

    override func setUpWithError() throws {
        vectors = try ProtocolVectors.load()
    }

    private func rows(_ key: String) -> [JSON] { vectors[key]?.arrayElements ?? [] }

    // MARK: Golden vectors

    func testEveryValidVectorDecodesToItsFieldsAndReencodesByteExact() throws {
        XCTAssertGreaterThanOrEqual(rows("valid").count, 20)
        for row in rows("valid") {
            let name = row.string(at: "name") ?? "?"
            let data = ProtocolVectors.bytes(row.string(at: "data_hex"))
            let expected = ProtocolVectors.expectedMessage(
                action: row["action"]?.int64Value ?? -1,
                version: row["version"]?.int64Value ?? -1, fields: row["fields"]!)
            XCTAssertNotNil(expected, name)
            XCTAssertEqual(TokenProtocol.decode(data: data), expected.map { .message($0) }, name)
            guard let message = expected else { continue }
            XCTAssertEqual(try TokenProtocol.compose(message), data, "\(name): compose")
            XCTAssertEqual(message.payload.count, Int(row["payload_bytes"]?.int64Value ?? -1), name)
            XCTAssertLessThanOrEqual(data.count, TokenProtocol.maxDataBytes, name)
            let script = ProtocolVectors.bytes(row.string(at: "script_hex"))
            XCTAssertEqual(try TokenProtocol.composeOutputScript(message), script, "\(name): script")
            XCTAssertEqual(TokenProtocol.decode(outputScript: script), .message(message), "\(name): script")
        }
    }

    func testEveryInvalidVectorGivesItsReason() {
        XCTAssertGreaterThanOrEqual(rows("invalid").count, 50)
        var reasonsSeen = Set<String>()
        for row in rows("invalid") {
            let name = row.string(at: "name") ?? "?"
            let reason = row.string(at: "reason") ?? "?"
            reasonsSeen.insert(reason)
            let outcome = TokenProtocol.decode(data: ProtocolVectors.bytes(row.string(at: "data_hex")))
            guard case .invalid(let rejection) = outcome else {
                XCTFail("\(name): expected invalid(\(reason)), got \(outcome)")
                continue
            }
            XCTAssertEqual(rejection.reason.rawValue, reason, "\(name): \(rejection.detail)")
            XCTAssertFalse(rejection.detail.isEmpty, name)
        }
        // Every payload-level reason has a vector (not_canonical is the unreachable backstop).
        let payloadReasons = AnchorReason.allCases.filter {
            ![
                .notCanonical, .truncatedPush, .nonMinimalPush, .extraScript, .multipleOpReturns,
                .missingNamedOutput, .namedOutputNotAddress, .duplicateManager,
            ].contains($0)
        }
        XCTAssertEqual(Set(payloadReasons.map(\.rawValue)).subtracting(reasonsSeen), [])
    }

    func testUnsupportedAndForeignVectors() {
        for row in rows("unsupported") {
            let outcome = TokenProtocol.decode(data: ProtocolVectors.bytes(row.string(at: "data_hex")))
            XCTAssertEqual(
                outcome,
                .unsupported(
                    action: UInt8(row["action"]?.int64Value ?? -1),
                    version: UInt8(row["version"]?.int64Value ?? -1)), row.string(at: "name") ?? "?")
        }
        for row in rows("not_anchor") {
            XCTAssertEqual(
                TokenProtocol.decode(data: ProtocolVectors.bytes(row.string(at: "data_hex"))), .notAnchor,
                row.string(at: "name") ?? "?")
        }
    }

    func testScriptVectors() {
        XCTAssertGreaterThanOrEqual(rows("scripts").count, 15)
        for row in rows("scripts") {
            let name = row.string(at: "name") ?? "?"
            let outcome = TokenProtocol.decode(outputScript: ProtocolVectors.bytes(row.string(at: "script_hex")))
            switch (row.string(at: "outcome"), outcome) {
            case ("not_anchor", .notAnchor), ("message", .message):
                break
            case ("invalid", .invalid(let rejection)):
                XCTAssertEqual(rejection.reason.rawValue, row.string(at: "reason"), name)
            default:
                XCTFail("\(name): expected \(row.string(at: "outcome") ?? "?"), got \(outcome)")
            }
        }
    }

    // MARK: Rules

    private let someHash = RecordHash(bytes: Array(repeating: 0xAB, count: 32))!

    func testComposeRefusesWhatDoesNotFitOrBreaksABound() {
        let fits = FractalInvoiceV1(invoiceHash: someHash, mintHash: someHash, quantity: (1 << 21) - 1)
        XCTAssertEqual(try TokenProtocol.compose(.fractalInvoice(fits)).count, 80)
        let cases: [(TokenMessage, AnchorReason)] = [
            (
                .fractalInvoice(FractalInvoiceV1(invoiceHash: someHash, mintHash: someHash, quantity: 1 << 21)),
                .anchorTooLarge
            ),
            (
                .fractalInvoice(
                    FractalInvoiceV1(invoiceHash: someHash, mintHash: someHash, quantity: UInt32(Int32.max) + 1)),
                .anchorTooLarge
            ),
            (.fractalInvoice(FractalInvoiceV1(invoiceHash: someHash, mintHash: someHash, quantity: 0)), .missingField),
            (.mint(TokenMint(recordHash: someHash, supply: 0)), .missingField),
            (.mint(TokenMint(recordHash: someHash, supply: UInt64(Int64.max) + 1)), .negativeValue),
            (.mint(TokenMint(recordHash: someHash, supply: 5, managerCount: 17, minApprovals: 1)), .valueOutOfRange),
            (
                .mint(TokenMint(recordHash: someHash, supply: 5, managerCount: 2, minApprovals: 3)),
                .approvalsExceedManagers
            ),
            (.mint(TokenMint(recordHash: someHash, supply: 5, managerCount: 2, minApprovals: 0)), .missingField),
            (
                .invoice(
                    TokenInvoice(
                        token: ChainPosition(height: 1, txIndex: 1), quantity: 3,
                        unitPriceKoinu: TokenProtocol.maxMoneyKoinu / 2,
                        expiryHeight: 9, recordHash: someHash)), .amountOverflow
            ),
            (
                .invoice(
                    TokenInvoice(
                        token: ChainPosition(height: 1, txIndex: 0), quantity: 3, unitPriceKoinu: 1,
                        expiryHeight: 9, recordHash: someHash)), .missingField
            ),
            (
                .buyOffer(
                    TokenBuyOffer(
                        token: ChainPosition(height: 1, txIndex: 1), quantity: UInt64.max, maxUnitPriceKoinu: 2,
                        expiryHeight: 9, recordHash: someHash)), .negativeValue
            ),
            (.payment(TokenPayment(reservation: .invoice(ChainPosition(height: 0, txIndex: 1)))), .badReference),
            (
                .approval(
                    TokenApproval(
                        reservation: .match(
                            sellOffer: ChainPosition(height: 5, txIndex: 1),
                            buyOffer: ChainPosition(height: 6, txIndex: 0)))), .badReference
            ),
        ]
        for (message, reason) in cases {
            XCTAssertThrowsError(try TokenProtocol.compose(message), "\(message)") { error in
                XCTAssertEqual((error as? AnchorRejection)?.reason, reason, "\(message)")
            }
        }
    }

    /// The worst case of every tok message fits 74 payload bytes (man/tok-protocol.7, budgets).
    func testLargestMessagesFitTheBudget() throws {
        let far = ChainPosition(height: .max, txIndex: .max)
        let largest: [(TokenMessage, Int)] = [
            (
                .mint(
                    TokenMint(
                        recordHash: someHash, supply: TokenProtocol.maxQuantity, managerCount: 16, minApprovals: 16)),
                48
            ),
            (
                .invoice(
                    TokenInvoice(
                        token: far, quantity: 1 << 30, unitPriceKoinu: 1 << 29, expiryHeight: .max,
                        recordHash: someHash, payee: .namedOutput)), 66
            ),
            (
                .sellOffer(
                    TokenSellOffer(
                        token: far, quantity: TokenProtocol.maxMoneyKoinu, unitPriceKoinu: 1, expiryHeight: .max,
                        recordHash: someHash, payee: .namedOutput)), 66
            ),
            (
                .buyOffer(
                    TokenBuyOffer(
                        token: far, quantity: 1, maxUnitPriceKoinu: TokenProtocol.maxMoneyKoinu, expiryHeight: .max,
                        recordHash: someHash)), 64
            ),
            (.payment(TokenPayment(reservation: .match(sellOffer: far, buyOffer: far))), 24),
            (.approval(TokenApproval(reservation: .match(sellOffer: far, buyOffer: far))), 24),
            (.deleteSellOffer(OfferDeletion(offer: far)), 12),
        ]
        for (message, payloadBytes) in largest {
            XCTAssertEqual(
                try TokenProtocol.compose(message).count, TokenProtocol.envelopeHeaderBytes + payloadBytes, "\(message)"
            )
        }
        // quantity and price together never take more than 12 bytes while their product fits 10^18.
        var worst = 0
        for quantityBits in 1...60 {
            let quantity = UInt64(1) << (quantityBits - 1)
            let price = TokenProtocol.maxMoneyKoinu / quantity
            worst = max(worst, ProtoWire.varintByteCount(quantity) + ProtoWire.varintByteCount(price))
            let lowQuantity = (UInt64(1) << quantityBits) - 1
            worst = max(
                worst,
                ProtoWire.varintByteCount(lowQuantity)
                    + ProtoWire.varintByteCount(TokenProtocol.maxMoneyKoinu / lowQuantity))
        }
        XCTAssertEqual(worst, 10)
    }

    /// Encoding then decoding is the identity on random valid messages of every kind.
    func testRandomValidMessagesRoundTrip() throws {
        var random = SplitMix64(state: 0x746F6B)
        for _ in 0..<3000 {
            let message = random.validMessage()
            let data = try TokenProtocol.compose(message)
            XCTAssertEqual(TokenProtocol.decode(data: data), .message(message))
            XCTAssertEqual(
                TokenProtocol.decode(outputScript: try TokenProtocol.composeOutputScript(message)), .message(message))
        }
    }

    func testEnvelopeEdges() {
        XCTAssertEqual(TokenProtocol.decode(data: []), .notAnchor)
        XCTAssertEqual(TokenProtocol.decode(data: [0xFE, 0x00, 0x01]), .notAnchor)
        // A huge input is judged on its tag and its length; nothing is read beyond.
        let huge = TokenProtocol.tag + [1, 1] + [UInt8](repeating: 0x0A, count: 1_000_000)
        guard case .invalid(let rejection) = TokenProtocol.decode(data: huge) else { return XCTFail("huge") }
        XCTAssertEqual(rejection.reason, .anchorTooLarge)
        XCTAssertEqual(TokenProtocol.decode(data: huge[4...]), .notAnchor)
        // A slice that does not start at index 0 reads the same as an array.
        let data = try! TokenProtocol.compose(
            .payment(TokenPayment(reservation: .invoice(ChainPosition(height: 9, txIndex: 2)))))
        let padded = [0x00] + data
        XCTAssertEqual(TokenProtocol.decode(data: padded[1...]), TokenProtocol.decode(data: data))
    }

    // MARK: Transactions

    private let p2pkh: (UInt8) -> [UInt8] = { [0x76, 0xA9, 20] + [UInt8](repeating: $0, count: 20) + [0x88, 0xAC] }
    private let p2sh: (UInt8) -> [UInt8] = { [0xA9, 20] + [UInt8](repeating: $0, count: 20) + [0x87] }

    func testFindAnchorTakesTheTaggedOutputAndRefusesASecondOpReturn() throws {
        let payment = TokenMessage.payment(TokenPayment(reservation: .invoice(ChainPosition(height: 9, txIndex: 2))))
        let anchor = try TokenProtocol.composeOutputScript(payment)
        XCTAssertNil(TokenProtocol.findAnchor(outputScripts: [p2pkh(1), [0x6A], p2pkh(2)]))
        XCTAssertEqual(
            TokenProtocol.findAnchor(outputScripts: [p2pkh(1), anchor]),
            TransactionAnchor(outputIndex: 1, outcome: .message(payment)))
        for scripts in [[anchor, [0x6A]], [[0x6A, 0x01, 0x00], anchor], [anchor, anchor]] {
            guard case .invalid(let rejection)? = TokenProtocol.findAnchor(outputScripts: scripts)?.outcome else {
                XCTFail("two OP_RETURNs")
                continue
            }
            XCTAssertEqual(rejection.reason, .multipleOpReturns)
        }
    }

    func testNamedPartiesFollowTheAnchor() throws {
        let chain = UTXOChains.dogecoinRegtest
        let hash = someHash
        let invoice = TokenMessage.invoice(
            TokenInvoice(
                token: ChainPosition(height: 5, txIndex: 1), quantity: 1, unitPriceKoinu: 1,
                expiryHeight: 9, recordHash: hash, payee: .namedOutput))
        let anchor = try TokenProtocol.composeOutputScript(invoice)
        let parties = try TokenProtocol.namedParties(
            of: invoice, outputScripts: [anchor, p2pkh(7), p2sh(8), p2pkh(9)],
            anchorOutputIndex: 0, chain: chain)
        XCTAssertEqual(parties.map(\.role), [.buyer, .payee])
        XCTAssertEqual(
            parties.map(\.address),
            [
                UTXOAddress(kind: .p2pkh, hash160: Array(repeating: 7, count: 20)),
                UTXOAddress(kind: .p2sh, hash160: Array(repeating: 8, count: 20)),
            ])
        let mint = TokenMessage.mint(TokenMint(recordHash: hash, supply: 5, managerCount: 2, minApprovals: 1))
        let refusals: [([[UInt8]], TokenMessage, AnchorReason)] = [
            ([anchor, p2pkh(7)], invoice, .missingNamedOutput),
            ([anchor, p2pkh(7), [0x6A]], invoice, .namedOutputNotAddress),
            ([anchor, p2pkh(7), p2pkh(7)], mint, .duplicateManager),
        ]
        for (scripts, message, reason) in refusals {
            XCTAssertThrowsError(
                try TokenProtocol.namedParties(of: message, outputScripts: scripts, anchorOutputIndex: 0, chain: chain)
            ) {
                XCTAssertEqual(($0 as? AnchorRejection)?.reason, reason)
            }
        }
        let plain = TokenMessage.mint(TokenMint(recordHash: hash, supply: 5))
        XCTAssertTrue(
            try TokenProtocol.namedParties(of: plain, outputScripts: [anchor], anchorOutputIndex: 0, chain: chain)
                .isEmpty)
    }

    func testChainPositionText() {
        XCTAssertEqual(ChainPosition(parsing: "250:1"), ChainPosition(height: 250, txIndex: 1))
        XCTAssertEqual(ChainPosition(parsing: "4294967295:4294967295"), ChainPosition(height: .max, txIndex: .max))
        for bad in [
            "0:1", "1:0", "01:1", "1:01", "1", "1:2:3", ":1", "1:", "+1:1", "4294967296:1", "1:-1", " 1:1", "١:1",
        ] {
            XCTAssertNil(ChainPosition(parsing: bad), bad)
        }
        XCTAssertLessThan(ChainPosition(height: 5, txIndex: 9), ChainPosition(height: 6, txIndex: 1))
        XCTAssertLessThan(ChainPosition(height: 6, txIndex: 1), ChainPosition(height: 6, txIndex: 2))
    }
}

/// Valid messages drawn from UInt256Tests' seeded SplitMix64, so property and fuzz tests replay.
extension SplitMix64 {
    mutating func below(_ bound: UInt64) -> UInt64 { bound == 0 ? 0 : next() % bound }

    /// 1...max, with a bias to small values and to the bounds, where encodings change length.
    mutating func positive(max: UInt64) -> UInt64 {
        switch below(4) {
        case 0: return max
        case 1: return 1 + below(min(max, 300))
        default: return 1 + (next() >> below(64)) % max
        }
    }

    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) } }

    mutating func position() -> ChainPosition {
        ChainPosition(
            height: UInt32(positive(max: UInt64(UInt32.max))), txIndex: UInt32(positive(max: UInt64(UInt32.max))))
    }

    mutating func hash() -> RecordHash { RecordHash(bytes: bytes(32))! }

    /// A quantity and a price whose product stays within MAX_MONEY.
    mutating func priced() -> (UInt64, UInt64) {
        let quantity = positive(max: TokenProtocol.maxMoneyKoinu)
        return (quantity, positive(max: TokenProtocol.maxMoneyKoinu / quantity))
    }

    mutating func reservation() -> ReservationReference {
        below(2) == 0 ? .invoice(position()) : .match(sellOffer: position(), buyOffer: position())
    }

    mutating func validMessage() -> TokenMessage {
        let (quantity, price) = priced()
        let payee: Payee = below(2) == 0 ? .seller : .namedOutput
        switch below(11) {
        case 0: return .fractalMint(FractalMintV1(recordHash: hash()))
        case 1:
            return .fractalInvoice(
                FractalInvoiceV1(
                    declaresVersion: below(2) == 0, invoiceHash: hash(), mintHash: hash(),
                    quantity: UInt32(positive(max: (1 << 21) - 1))))
        case 2: return .fractalPayment(FractalPaymentV1(declaresVersion: below(2) == 0, invoiceHash: hash()))
        case 3:
            let managers = UInt8(below(17))
            return .mint(
                TokenMint(
                    recordHash: hash(), supply: positive(max: TokenProtocol.maxQuantity), managerCount: managers,
                    minApprovals: managers == 0 ? 0 : UInt8(positive(max: UInt64(managers)))))
        case 4:
            return .buyOffer(
                TokenBuyOffer(
                    token: position(), quantity: quantity, maxUnitPriceKoinu: price,
                    expiryHeight: UInt32(positive(max: UInt64(UInt32.max))), recordHash: hash()))
        case 5:
            return .sellOffer(
                TokenSellOffer(
                    token: position(), quantity: quantity, unitPriceKoinu: price,
                    expiryHeight: UInt32(positive(max: UInt64(UInt32.max))), recordHash: hash(), payee: payee))
        case 6:
            return .invoice(
                TokenInvoice(
                    token: position(), quantity: quantity, unitPriceKoinu: price,
                    expiryHeight: UInt32(positive(max: UInt64(UInt32.max))), recordHash: hash(), payee: payee))
        case 7: return .payment(TokenPayment(reservation: reservation()))
        case 8: return .deleteBuyOffer(OfferDeletion(offer: position()))
        case 9: return .deleteSellOffer(OfferDeletion(offer: position()))
        default: return .approval(TokenApproval(reservation: reservation()))
        }
    }
}
