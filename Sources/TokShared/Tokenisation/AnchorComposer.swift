/// What to put in an anchoring transaction for a record or a reference: the
/// OP_RETURN data (envelope and payload, tok-protocol(7)), and the addresses
/// of the outputs that must follow it, in order (the named parties). Used by
/// `tok-validate --anchor-payload` and pipelines/anchor.sh.
public struct AnchorPlan: Sendable, Equatable {
    public var data: [UInt8]
    public var namedOutputs: [String]
    /// For a record: its hash, the text its author signs (`signmessage AUTHOR HASH`).
    public var recordHash: String?

    public func object() -> JSON {
        let object = JSON.object()
        if let recordHash { object.set("record_hash", string: recordHash) }
        object.set("data", string: Hex.encode(data))
        object.set("script", string: Hex.encode(TokenProtocol.opReturnScript(data)))
        object.set("named_outputs", JSON.array(namedOutputs.map { JSON.string($0) }))
        return object
    }
}

public enum AnchorComposer {
    /// The anchor that binds `record`: its terms mirrored, its hash carried, its parties named.
    public static func plan(for record: TokenRecord) throws(TokError) -> AnchorPlan {
        let chain = record.chain
        let message: TokenMessage
        var named: [UTXOAddress] = []
        switch record.terms {
        case .mint(let supply, let managers, let minApprovals):
            message = .mint(
                TokenMint(
                    recordHash: record.hash, supply: supply, managerCount: UInt8(managers.count),
                    minApprovals: minApprovals))
            named = managers
        case .invoice(let buyer, let token, let quantity, let price, let payee):
            message = .invoice(
                TokenInvoice(
                    token: token, quantity: quantity, unitPriceKoinu: price, expiryHeight: record.expiryHeight,
                    recordHash: record.hash, payee: payee == nil ? .seller : .namedOutput))
            named = [buyer] + (payee.map { [$0] } ?? [])
        case .sellOffer(let token, let quantity, let price, let payee):
            message = .sellOffer(
                TokenSellOffer(
                    token: token, quantity: quantity, unitPriceKoinu: price,
                    expiryHeight: record.expiryHeight, recordHash: record.hash,
                    payee: payee == nil ? .seller : .namedOutput))
            named = payee.map { [$0] } ?? []
        case .buyOffer(let token, let quantity, let price):
            message = .buyOffer(
                TokenBuyOffer(
                    token: token, quantity: quantity, maxUnitPriceKoinu: price,
                    expiryHeight: record.expiryHeight, recordHash: record.hash))
        }
        return AnchorPlan(
            data: try compose(message), namedOutputs: named.map { $0.encode(chain: chain) }, recordHash: record.hash.hex
        )
    }

    /// The anchor of a message that names a position: `payment`, `approval`
    /// (`{"invoice":"H:I"}` or `{"sell_offer":"H:I","buy_offer":"H:I"}`),
    /// `delete_buy_offer` / `delete_sell_offer` (`{"offer":"H:I"}`).
    public static func plan(kind: String, reference: FieldReader) throws(TokError) -> AnchorPlan {
        func position(_ key: String) throws(TokError) -> ChainPosition {
            guard let position = ChainPosition(parsing: try reference.string(key)) else {
                throw TokError(.badFieldType, "\(reference.pathOf(key)) must be HEIGHT:INDEX")
            }
            return position
        }
        func reservation() throws(TokError) -> ReservationReference {
            if reference.has("invoice") { return .invoice(try position("invoice")) }
            return .match(sellOffer: try position("sell_offer"), buyOffer: try position("buy_offer"))
        }
        let message: TokenMessage
        switch kind {
        case "payment": message = .payment(TokenPayment(reservation: try reservation()))
        case "approval": message = .approval(TokenApproval(reservation: try reservation()))
        case "delete_buy_offer": message = .deleteBuyOffer(OfferDeletion(offer: try position("offer")))
        case "delete_sell_offer": message = .deleteSellOffer(OfferDeletion(offer: try position("offer")))
        default:
            throw TokError(
                .badFieldType, "an anchor is a payment, approval, delete_buy_offer or delete_sell_offer, not \(kind)")
        }
        return AnchorPlan(data: try compose(message), namedOutputs: [], recordHash: nil)
    }

    private static func compose(_ message: TokenMessage) throws(TokError) -> [UInt8] {
        do { return try TokenProtocol.compose(message) } catch {
            throw TokError(.badRecord, "the anchor cannot be composed: \(error.reason.rawValue): \(error.detail)")
        }
    }
}

extension TokenProtocol {
    /// OP_RETURN and one minimal push of `data` (at most 80 bytes).
    static func opReturnScript(_ data: [UInt8]) -> [UInt8] { [0x6a] + Script.push(data) }
}
