import Foundation
import XCTest
@testable import TokShared

/// Tests/TokSharedTests/Fixtures/protocol-vectors.json, written by
/// testpeers/gen_protocol_vectors.py (protobuf from PyPI over testpeers/proto/, rfc8785).
enum ProtocolVectors {
    static let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures").appendingPathComponent("protocol-vectors.json")

    static func load() throws -> JSON {
        let data = try Data(contentsOf: url)
        switch data.withUnsafeBytes({ JSON.parse($0) }) {
        case .success(let json): return json
        case .failure(let failure):
            throw NSError(domain: "vectors", code: 1, userInfo: [NSLocalizedDescriptionKey: failure.message])
        }
    }

    static func bytes(_ hex: String?) -> [UInt8] {
        guard let hex, let bytes = Hex.decode(hex) else { return [] }
        return bytes
    }

    /// The message the generator's field values describe, built independently of the decoder.
    static func expectedMessage(action: Int64, version: Int64, fields: JSON) -> TokenMessage? {
        func number(_ name: String) -> UInt64 {
            if let value = fields[name]?.int64Value { return UInt64(value) }
            return fields.string(at: name).flatMap { UInt64($0) } ?? 0
        }
        func u32(_ name: String) -> UInt32 { UInt32(number(name)) }
        func hash(_ name: String) -> RecordHash { RecordHash(hex: fields.string(at: name) ?? "")! }
        func flag(_ name: String) -> Bool { fields[name]?.boolValue ?? false }
        func position(_ height: String, _ index: String) -> ChainPosition {
            ChainPosition(height: u32(height), txIndex: u32(index))
        }
        func reservation() -> ReservationReference {
            fields.has("invoice_height")
                ? .invoice(position("invoice_height", "invoice_tx_index"))
                : .match(
                    sellOffer: position("sell_offer_height", "sell_offer_tx_index"),
                    buyOffer: position("buy_offer_height", "buy_offer_tx_index"))
        }
        let payee: Payee = flag("pay_to_named_output") ? .namedOutput : .seller
        switch (action, version) {
        case (1, 1): return .fractalMint(FractalMintV1(recordHash: hash("hash")))
        case (4, 1):
            return .fractalInvoice(
                FractalInvoiceV1(
                    declaresVersion: number("version") == 1, invoiceHash: hash("invoice_hash"),
                    mintHash: hash("mint_hash"), quantity: u32("quantity")))
        case (5, 1):
            return .fractalPayment(FractalPaymentV1(declaresVersion: number("version") == 1, invoiceHash: hash("hash")))
        case (1, 0x74):
            return .mint(
                TokenMint(
                    recordHash: hash("record_hash"), supply: number("supply"),
                    managerCount: UInt8(number("manager_count")), minApprovals: UInt8(number("min_approvals"))))
        case (2, 0x74):
            return .buyOffer(
                TokenBuyOffer(
                    token: position("token_height", "token_tx_index"), quantity: number("quantity"),
                    maxUnitPriceKoinu: number("max_unit_price_koinu"), expiryHeight: u32("expiry_height"),
                    recordHash: hash("record_hash")))
        case (3, 0x74):
            return .sellOffer(
                TokenSellOffer(
                    token: position("token_height", "token_tx_index"), quantity: number("quantity"),
                    unitPriceKoinu: number("unit_price_koinu"), expiryHeight: u32("expiry_height"),
                    recordHash: hash("record_hash"), payee: payee))
        case (4, 0x74):
            return .invoice(
                TokenInvoice(
                    token: position("token_height", "token_tx_index"), quantity: number("quantity"),
                    unitPriceKoinu: number("unit_price_koinu"), expiryHeight: u32("expiry_height"),
                    recordHash: hash("record_hash"), payee: payee))
        case (5, 0x74): return .payment(TokenPayment(reservation: reservation()))
        case (6, 0x74): return .deleteBuyOffer(OfferDeletion(offer: position("offer_height", "offer_tx_index")))
        case (7, 0x74): return .deleteSellOffer(OfferDeletion(offer: position("offer_height", "offer_tx_index")))
        case (8, 0x74): return .approval(TokenApproval(reservation: reservation()))
        default: return nil
        }
    }
}
