/// The payloads tok reads from anchors: Fractal Engine's version 1 (mint, invoice, payment), for
/// wire compatibility, and tok's own version (every action), which carries everything a balance
/// change depends on. Field numbers, types and bounds are in man/tok-protocol.7 and
/// testpeers/proto/; each type lists its schema next to its reading, so the two cannot drift.
///
/// Every type here is a plain value: any values can be built, and `TokenProtocol.compose`
/// refuses the ones the decoder would refuse, so whatever composes also decodes to itself.
protocol AnchorPayloadCodable: Hashable, Sendable {
    static var schema: ProtoSchema { get }
    /// Message-level rules, after the wire reader has checked each field on its own.
    static func read(_ fields: ProtoFields) throws(AnchorRejection) -> Self
    var fields: ProtoFields { get }
}

private func field(_ number: UInt64, _ name: String, _ kind: ProtoFieldKind, required: Bool = true) -> ProtoField {
    ProtoField(number: number, name: name, kind: kind, required: required)
}

private let heightField = ProtoFieldKind.unsigned(max: UInt64(UInt32.max))
private let quantityField = ProtoFieldKind.unsigned(max: TokenProtocol.maxQuantity)
private let priceField = ProtoFieldKind.unsigned(max: TokenProtocol.maxMoneyKoinu)
private let hashKind = ProtoFieldKind.bytes(count: RecordHash.byteCount)

/// Read after the wire reader checked the field: a required hash field is present and 32 bytes.
private func hashField(_ fields: ProtoFields, _ number: UInt64) -> RecordHash {
    RecordHash(bytes: fields.bytes(number) ?? []) ?? RecordHash.zero
}

private func position(_ fields: ProtoFields, _ height: UInt64, _ index: UInt64) -> ChainPosition {
    ChainPosition(
        height: UInt32(truncatingIfNeeded: fields.unsigned(height)),
        txIndex: UInt32(truncatingIfNeeded: fields.unsigned(index)))
}

private func set(_ position: ChainPosition, _ height: UInt64, _ index: UInt64, in fields: inout ProtoFields) {
    fields.set(height, UInt64(position.height))
    fields.set(index, UInt64(position.txIndex))
}

/// quantity × unit price must be a koinu amount Dogecoin can hold.
private func checkAmount(_ quantity: UInt64, _ price: UInt64, _ name: String) throws(AnchorRejection) {
    let (product, overflow) = quantity.multipliedReportingOverflow(by: price)
    if overflow || product > TokenProtocol.maxMoneyKoinu {
        throw AnchorRejection(
            .amountOverflow,
            "\(name): quantity \(quantity) × unit price \(price) koinu exceeds \(TokenProtocol.maxMoneyKoinu)")
    }
}

// MARK: - Fractal Engine, version 1

/// `OnChainMintMessage {string hash = 1}`: the mint record's SHA-256 as 64 lowercase hex digits.
public struct FractalMintV1: AnchorPayloadCodable {
    public var recordHash: RecordHash

    public init(recordHash: RecordHash) { self.recordHash = recordHash }

    static let schema = ProtoSchema("fe_v1.mint", [field(1, "hash", .hexString(byteCount: RecordHash.byteCount))])

    static func read(_ fields: ProtoFields) throws(AnchorRejection) -> FractalMintV1 {
        FractalMintV1(recordHash: hashField(fields, 1))
    }

    var fields: ProtoFields {
        var out = ProtoFields()
        out.set(1, bytes: recordHash.bytes)
        return out
    }
}

/// `OnChainInvoiceMessage {int32 version = 1; bytes invoice_hash = 2; bytes mint_hash = 3;
/// int32 quantity = 4}`. Fractal Engine writes version 1; absent is read too (proto3's 0).
public struct FractalInvoiceV1: AnchorPayloadCodable {
    public var declaresVersion: Bool
    public var invoiceHash: RecordHash
    public var mintHash: RecordHash
    /// 1...2^31-1 (an int32 that is not negative).
    public var quantity: UInt32

    public init(declaresVersion: Bool = true, invoiceHash: RecordHash, mintHash: RecordHash, quantity: UInt32) {
        self.declaresVersion = declaresVersion
        self.invoiceHash = invoiceHash
        self.mintHash = mintHash
        self.quantity = quantity
    }

    static let schema = ProtoSchema(
        "fe_v1.invoice",
        [
            field(1, "version", .unsigned(max: 1), required: false),
            field(2, "invoice_hash", hashKind),
            field(3, "mint_hash", hashKind),
            field(4, "quantity", .unsigned(max: UInt64(Int32.max))),
        ])

    static func read(_ fields: ProtoFields) throws(AnchorRejection) -> FractalInvoiceV1 {
        FractalInvoiceV1(
            declaresVersion: fields.flag(1), invoiceHash: hashField(fields, 2), mintHash: hashField(fields, 3),
            quantity: UInt32(truncatingIfNeeded: fields.unsigned(4)))
    }

    var fields: ProtoFields {
        var out = ProtoFields()
        out.set(1, flag: declaresVersion)
        out.set(2, bytes: invoiceHash.bytes)
        out.set(3, bytes: mintHash.bytes)
        out.set(4, UInt64(quantity))
        return out
    }
}

/// `OnChainPaymentMessage {int32 version = 1; string hash = 2}`: the invoice hash as hex.
/// Fractal Engine leaves version unset in practice; 1 is read too.
public struct FractalPaymentV1: AnchorPayloadCodable {
    public var declaresVersion: Bool
    public var invoiceHash: RecordHash

    public init(declaresVersion: Bool = false, invoiceHash: RecordHash) {
        self.declaresVersion = declaresVersion
        self.invoiceHash = invoiceHash
    }

    static let schema = ProtoSchema(
        "fe_v1.payment",
        [
            field(1, "version", .unsigned(max: 1), required: false),
            field(2, "hash", .hexString(byteCount: RecordHash.byteCount)),
        ])

    static func read(_ fields: ProtoFields) throws(AnchorRejection) -> FractalPaymentV1 {
        FractalPaymentV1(declaresVersion: fields.flag(1), invoiceHash: hashField(fields, 2))
    }

    var fields: ProtoFields {
        var out = ProtoFields()
        out.set(1, flag: declaresVersion)
        out.set(2, bytes: invoiceHash.bytes)
        return out
    }
}

// MARK: - tok

/// A mint: `supply` units to the address input 0 spends, bound to the off-chain mint record.
/// `managerCount` asset managers are the named outputs 1...managerCount; a sale of the token
/// settles only with `minApprovals` of their approvals (0 and 0 when it has no managers).
public struct TokenMint: AnchorPayloadCodable {
    public var recordHash: RecordHash
    public var supply: UInt64
    public var managerCount: UInt8
    public var minApprovals: UInt8

    public init(recordHash: RecordHash, supply: UInt64, managerCount: UInt8 = 0, minApprovals: UInt8 = 0) {
        self.recordHash = recordHash
        self.supply = supply
        self.managerCount = managerCount
        self.minApprovals = minApprovals
    }

    static let schema = ProtoSchema(
        "tok.mint",
        [
            field(1, "record_hash", hashKind),
            field(2, "supply", quantityField),
            field(3, "manager_count", .unsigned(max: UInt64(TokenProtocol.maxManagers)), required: false),
            field(4, "min_approvals", .unsigned(max: UInt64(TokenProtocol.maxManagers)), required: false),
        ])

    static func read(_ fields: ProtoFields) throws(AnchorRejection) -> TokenMint {
        let managers = fields.unsigned(3)
        let approvals = fields.unsigned(4)
        if approvals > managers {
            throw AnchorRejection(
                .approvalsExceedManagers, "tok.mint asks for \(approvals) approvals of \(managers) managers")
        }
        if managers > 0 && approvals == 0 {
            throw AnchorRejection(
                .missingField, "tok.mint.min_approvals (field 4) is required when manager_count is set")
        }
        return TokenMint(
            recordHash: hashField(fields, 1), supply: fields.unsigned(2),
            managerCount: UInt8(truncatingIfNeeded: managers), minApprovals: UInt8(truncatingIfNeeded: approvals))
    }

    var fields: ProtoFields {
        var out = ProtoFields()
        out.set(1, bytes: recordHash.bytes)
        out.set(2, supply)
        out.set(3, UInt64(managerCount))
        out.set(4, UInt64(minApprovals))
        return out
    }
}

/// The layout shared by a seller's invoice and a sell offer: token, quantity, unit price in
/// koinu, expiry height (exclusive), the record's hash, where to pay.
private let sellingFields: [ProtoField] = [
    field(1, "token_height", heightField),
    field(2, "token_tx_index", heightField),
    field(3, "quantity", quantityField),
    field(4, "unit_price_koinu", priceField),
    field(5, "expiry_height", heightField),
    field(6, "record_hash", hashKind),
    field(7, "pay_to_named_output", .flag, required: false),
]

/// A seller's invoice: reserves `quantity` of `token` for the one buyer (named output 1) until
/// `expiryHeight`, payable at `quantity × unitPriceKoinu` koinu to the payee.
public struct TokenInvoice: AnchorPayloadCodable {
    public var token: TokenId
    public var quantity: UInt64
    public var unitPriceKoinu: UInt64
    public var expiryHeight: UInt32
    public var recordHash: RecordHash
    /// `.namedOutput`: named output 2.
    public var payee: Payee

    public init(
        token: TokenId, quantity: UInt64, unitPriceKoinu: UInt64, expiryHeight: UInt32,
        recordHash: RecordHash, payee: Payee = .seller
    ) {
        self.token = token
        self.quantity = quantity
        self.unitPriceKoinu = unitPriceKoinu
        self.expiryHeight = expiryHeight
        self.recordHash = recordHash
        self.payee = payee
    }

    static let schema = ProtoSchema("tok.invoice", sellingFields)

    static func read(_ fields: ProtoFields) throws(AnchorRejection) -> TokenInvoice {
        try checkAmount(fields.unsigned(3), fields.unsigned(4), schema.name)
        return TokenInvoice(
            token: position(fields, 1, 2), quantity: fields.unsigned(3), unitPriceKoinu: fields.unsigned(4),
            expiryHeight: UInt32(truncatingIfNeeded: fields.unsigned(5)), recordHash: hashField(fields, 6),
            payee: fields.flag(7) ? .namedOutput : .seller)
    }

    var fields: ProtoFields {
        var out = ProtoFields()
        set(token, 1, 2, in: &out)
        out.set(3, quantity)
        out.set(4, unitPriceKoinu)
        out.set(5, UInt64(expiryHeight))
        out.set(6, bytes: recordHash.bytes)
        out.set(7, flag: payee == .namedOutput)
        return out
    }
}

/// A sell offer: escrows `quantity` of `token` from its author at `unitPriceKoinu` each until
/// `expiryHeight`. Payee `.namedOutput` is named output 1.
public struct TokenSellOffer: AnchorPayloadCodable {
    public var token: TokenId
    public var quantity: UInt64
    public var unitPriceKoinu: UInt64
    public var expiryHeight: UInt32
    public var recordHash: RecordHash
    public var payee: Payee

    public init(
        token: TokenId, quantity: UInt64, unitPriceKoinu: UInt64, expiryHeight: UInt32,
        recordHash: RecordHash, payee: Payee = .seller
    ) {
        self.token = token
        self.quantity = quantity
        self.unitPriceKoinu = unitPriceKoinu
        self.expiryHeight = expiryHeight
        self.recordHash = recordHash
        self.payee = payee
    }

    static let schema = ProtoSchema("tok.sell_offer", sellingFields)

    static func read(_ fields: ProtoFields) throws(AnchorRejection) -> TokenSellOffer {
        try checkAmount(fields.unsigned(3), fields.unsigned(4), schema.name)
        let invoice = try TokenInvoice.read(fields)  // the same layout and the same rules
        return TokenSellOffer(
            token: invoice.token, quantity: invoice.quantity, unitPriceKoinu: invoice.unitPriceKoinu,
            expiryHeight: invoice.expiryHeight, recordHash: invoice.recordHash, payee: invoice.payee)
    }

    var fields: ProtoFields {
        TokenInvoice(
            token: token, quantity: quantity, unitPriceKoinu: unitPriceKoinu, expiryHeight: expiryHeight,
            recordHash: recordHash, payee: payee
        ).fields
    }
}

/// A buy offer: up to `quantity` of `token` at no more than `maxUnitPriceKoinu` each, until
/// `expiryHeight`. Its author (input 0) is the buyer and pays each match.
public struct TokenBuyOffer: AnchorPayloadCodable {
    public var token: TokenId
    public var quantity: UInt64
    public var maxUnitPriceKoinu: UInt64
    public var expiryHeight: UInt32
    public var recordHash: RecordHash

    public init(
        token: TokenId, quantity: UInt64, maxUnitPriceKoinu: UInt64, expiryHeight: UInt32, recordHash: RecordHash
    ) {
        self.token = token
        self.quantity = quantity
        self.maxUnitPriceKoinu = maxUnitPriceKoinu
        self.expiryHeight = expiryHeight
        self.recordHash = recordHash
    }

    static let schema = ProtoSchema(
        "tok.buy_offer",
        [
            field(1, "token_height", heightField),
            field(2, "token_tx_index", heightField),
            field(3, "quantity", quantityField),
            field(4, "max_unit_price_koinu", priceField),
            field(5, "expiry_height", heightField),
            field(6, "record_hash", hashKind),
        ])

    static func read(_ fields: ProtoFields) throws(AnchorRejection) -> TokenBuyOffer {
        try checkAmount(fields.unsigned(3), fields.unsigned(4), schema.name)
        return TokenBuyOffer(
            token: position(fields, 1, 2), quantity: fields.unsigned(3), maxUnitPriceKoinu: fields.unsigned(4),
            expiryHeight: UInt32(truncatingIfNeeded: fields.unsigned(5)), recordHash: hashField(fields, 6))
    }

    var fields: ProtoFields {
        var out = ProtoFields()
        set(token, 1, 2, in: &out)
        out.set(3, quantity)
        out.set(4, maxUnitPriceKoinu)
        out.set(5, UInt64(expiryHeight))
        out.set(6, bytes: recordHash.bytes)
        return out
    }
}

/// Withdraws the unmatched rest of the offer anchored at `offer` (actions 6 and 7); only its
/// author (input 0) can.
public struct OfferDeletion: AnchorPayloadCodable {
    public var offer: ChainPosition

    public init(offer: ChainPosition) { self.offer = offer }

    static let schema = ProtoSchema(
        "tok.delete_offer",
        [
            field(1, "offer_height", heightField),
            field(2, "offer_tx_index", heightField),
        ])

    static func read(_ fields: ProtoFields) throws(AnchorRejection) -> OfferDeletion {
        OfferDeletion(offer: position(fields, 1, 2))
    }

    var fields: ProtoFields {
        var out = ProtoFields()
        set(offer, 1, 2, in: &out)
        return out
    }
}

/// Fields 1-2 name an invoice, 3-6 a match; a payment and an approval name exactly one.
private let reservationFields: [ProtoField] = [
    field(1, "invoice_height", heightField, required: false),
    field(2, "invoice_tx_index", heightField, required: false),
    field(3, "sell_offer_height", heightField, required: false),
    field(4, "sell_offer_tx_index", heightField, required: false),
    field(5, "buy_offer_height", heightField, required: false),
    field(6, "buy_offer_tx_index", heightField, required: false),
]

private func readReservation(_ fields: ProtoFields, _ name: String) throws(AnchorRejection) -> ReservationReference {
    let present = (1...6).map { fields.has(UInt64($0)) }
    if present == [true, true, false, false, false, false] {
        return .invoice(position(fields, 1, 2))
    }
    if present == [false, false, true, true, true, true] {
        return .match(sellOffer: position(fields, 3, 4), buyOffer: position(fields, 5, 6))
    }
    let numbers = present.enumerated().filter(\.element).map { String($0.offset + 1) }.joined(separator: ", ")
    throw AnchorRejection(
        .badReference, "\(name) must carry fields 1-2 (an invoice) or 3-6 (a match), got fields [\(numbers)]")
}

private func reservationFieldValues(_ reservation: ReservationReference) -> ProtoFields {
    var out = ProtoFields()
    switch reservation {
    case .invoice(let invoice):
        set(invoice, 1, 2, in: &out)
    case .match(let sell, let buy):
        set(sell, 3, 4, in: &out)
        set(buy, 5, 6, in: &out)
    }
    return out
}

/// Pays a reservation. The payer is input 0 and must be its buyer; the amount is what the
/// transaction's outputs pay to the payee's exact script, read from the chain.
public struct TokenPayment: AnchorPayloadCodable {
    public var reservation: ReservationReference

    public init(reservation: ReservationReference) { self.reservation = reservation }

    static let schema = ProtoSchema("tok.payment", reservationFields)

    static func read(_ fields: ProtoFields) throws(AnchorRejection) -> TokenPayment {
        TokenPayment(reservation: try readReservation(fields, "tok.payment"))
    }

    var fields: ProtoFields { reservationFieldValues(reservation) }
}

/// An asset manager's approval of a reservation of a managed token; the manager is input 0.
public struct TokenApproval: AnchorPayloadCodable {
    public var reservation: ReservationReference

    public init(reservation: ReservationReference) { self.reservation = reservation }

    static let schema = ProtoSchema("tok.approval", reservationFields)

    static func read(_ fields: ProtoFields) throws(AnchorRejection) -> TokenApproval {
        TokenApproval(reservation: try readReservation(fields, "tok.approval"))
    }

    var fields: ProtoFields { reservationFieldValues(reservation) }
}
