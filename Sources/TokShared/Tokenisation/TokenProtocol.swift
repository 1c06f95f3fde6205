/// The action byte of an envelope, in Fractal Engine's numbering.
public enum TokenAction: UInt8, Sendable, CaseIterable {
    case mint = 1
    case buyOffer = 2
    case sellOffer = 3
    case invoice = 4
    case payment = 5
    case deleteBuyOffer = 6
    case deleteSellOffer = 7
    /// Fractal Engine's "invoice signature"; in tok an asset manager's approval.
    case approval = 8
}

/// One decoded anchor payload, with the version it was written in.
public enum TokenMessage: Hashable, Sendable {
    case fractalMint(FractalMintV1)
    case fractalInvoice(FractalInvoiceV1)
    case fractalPayment(FractalPaymentV1)
    case mint(TokenMint)
    case buyOffer(TokenBuyOffer)
    case sellOffer(TokenSellOffer)
    case invoice(TokenInvoice)
    case payment(TokenPayment)
    case deleteBuyOffer(OfferDeletion)
    case deleteSellOffer(OfferDeletion)
    case approval(TokenApproval)

    public var action: TokenAction {
        switch self {
        case .fractalMint, .mint: return .mint
        case .buyOffer: return .buyOffer
        case .sellOffer: return .sellOffer
        case .fractalInvoice, .invoice: return .invoice
        case .fractalPayment, .payment: return .payment
        case .deleteBuyOffer: return .deleteBuyOffer
        case .deleteSellOffer: return .deleteSellOffer
        case .approval: return .approval
        }
    }

    public var version: UInt8 {
        switch self {
        case .fractalMint, .fractalInvoice, .fractalPayment: return TokenProtocol.fractalVersion
        default: return TokenProtocol.tokVersion
        }
    }

    /// The parties this message names by the outputs that follow its OP_RETURN, in order
    /// (man/tok-protocol.7, "Named outputs").
    public var namedOutputRoles: [NamedOutputRole] {
        switch self {
        case .mint(let mint): return (0..<Int(mint.managerCount)).map { NamedOutputRole.manager($0) }
        case .invoice(let invoice): return invoice.payee == .namedOutput ? [.buyer, .payee] : [.buyer]
        case .sellOffer(let offer): return offer.payee == .namedOutput ? [.payee] : []
        default: return []
        }
    }

    fileprivate var payloadFields: (schema: ProtoSchema, fields: ProtoFields) {
        switch self {
        case .fractalMint(let value): return (FractalMintV1.schema, value.fields)
        case .fractalInvoice(let value): return (FractalInvoiceV1.schema, value.fields)
        case .fractalPayment(let value): return (FractalPaymentV1.schema, value.fields)
        case .mint(let value): return (TokenMint.schema, value.fields)
        case .buyOffer(let value): return (TokenBuyOffer.schema, value.fields)
        case .sellOffer(let value): return (TokenSellOffer.schema, value.fields)
        case .invoice(let value): return (TokenInvoice.schema, value.fields)
        case .payment(let value): return (TokenPayment.schema, value.fields)
        case .deleteBuyOffer(let value): return (OfferDeletion.schema, value.fields)
        case .deleteSellOffer(let value): return (OfferDeletion.schema, value.fields)
        case .approval(let value): return (TokenApproval.schema, value.fields)
        }
    }

    /// The canonical payload (not yet checked against the bounds: `TokenProtocol.compose` does).
    public var payload: [UInt8] {
        let (schema, fields) = payloadFields
        return ProtoWire.encode(fields, schema: schema)
    }
}

/// A party named by an output after the anchor.
public enum NamedOutputRole: Hashable, Sendable {
    case buyer
    case payee
    /// The n-th asset manager, from 0.
    case manager(Int)
}

/// What one OP_RETURN says. Any bytes give one of these; nothing traps.
public enum AnchorOutcome: Hashable, Sendable {
    /// Not an envelope of this protocol (no OP_RETURN, a bare one, another tag): ignored.
    case notAnchor
    case message(TokenMessage)
    case invalid(AnchorRejection)
    /// The envelope is ours but tok does not read this action in this version (Fractal
    /// Engine's off-chain actions in version 1, a version from the future, action 0 or > 8).
    case unsupported(action: UInt8, version: UInt8)
}

/// tok's tokenisation wire protocol on Dogecoin: `FE 00 01 FE` | action | version | protobuf
/// payload in one OP_RETURN of at most 80 data bytes. Specified in man/tok-protocol.7.
public enum TokenProtocol {
    public static let tag: [UInt8] = [0xFE, 0x00, 0x01, 0xFE]
    /// Fractal Engine's version, read for its mint, invoice and payment.
    public static let fractalVersion: UInt8 = 1
    /// tok's own version, ASCII "t": far from Fractal Engine's own next numbers (2, 3, ...), so
    /// a future Fractal Engine version is `unsupported`, never misread as tok's.
    public static let tokVersion: UInt8 = 0x74
    /// Dogecoin relays one OP_RETURN output of at most 80 data bytes (-datacarriersize).
    public static let maxDataBytes = 80
    public static let envelopeHeaderBytes = 6
    public static let maxPayloadBytes = maxDataBytes - envelopeHeaderBytes
    /// Dogecoin's MAX_MONEY: 10 billion DOGE in koinu. No unit price, and no quantity × price,
    /// may exceed it.
    public static let maxMoneyKoinu: UInt64 = 1_000_000_000_000_000_000
    /// Token quantities and supplies fit a signed 64-bit ledger column.
    public static let maxQuantity = UInt64(Int64.max)
    public static let maxManagers = 16

    static let opReturn: UInt8 = 0x6A
    static let opPushData1: UInt8 = 0x4C
    static let opPushData2: UInt8 = 0x4D
    static let opPushData4: UInt8 = 0x4E

    // MARK: Decoding

    /// Reads the data of one OP_RETURN push (what follows OP_RETURN and the push opcode).
    public static func decode(data: [UInt8]) -> AnchorOutcome {
        decode(data: data[...])
    }

    public static func decode(data: ArraySlice<UInt8>) -> AnchorOutcome {
        guard data.count >= tag.count, data.prefix(tag.count).elementsEqual(tag) else { return .notAnchor }
        guard data.count <= maxDataBytes else {
            return .invalid(AnchorRejection(.anchorTooLarge, "\(data.count) data bytes, at most \(maxDataBytes)"))
        }
        guard data.count >= envelopeHeaderBytes else {
            return .invalid(
                AnchorRejection(
                    .truncatedEnvelope, "\(data.count) data bytes: the action and version bytes are missing"))
        }
        let action = data[data.startIndex + 4]
        let version = data[data.startIndex + 5]
        guard let reader = payloadReader(action: action, version: version) else {
            return .unsupported(action: action, version: version)
        }
        let payload = Array(data.dropFirst(envelopeHeaderBytes))
        guard !payload.isEmpty else {
            return .invalid(AnchorRejection(.emptyPayload, "action \(action) version \(version) carries no payload"))
        }
        do {
            let message = try reader(payload)
            // The rules above make the encoding unique; this keeps it so if one is ever missed.
            guard message.payload == payload else {
                return .invalid(
                    AnchorRejection(.notCanonical, "the payload does not re-encode to the same \(payload.count) bytes"))
            }
            return .message(message)
        } catch {
            return .invalid(error)
        }
    }

    private typealias PayloadReader = ([UInt8]) throws(AnchorRejection) -> TokenMessage

    private static func read<T: AnchorPayloadCodable>(_ type: T.Type, _ payload: [UInt8]) throws(AnchorRejection) -> T {
        try T.read(try ProtoWire.decode(payload, schema: T.schema))
    }

    private static func payloadReader(action: UInt8, version: UInt8) -> PayloadReader? {
        guard let known = TokenAction(rawValue: action) else { return nil }
        switch (known, version) {
        case (.mint, fractalVersion):
            return { p throws(AnchorRejection) in .fractalMint(try read(FractalMintV1.self, p)) }
        case (.invoice, fractalVersion):
            return { p throws(AnchorRejection) in .fractalInvoice(try read(FractalInvoiceV1.self, p)) }
        case (.payment, fractalVersion):
            return { p throws(AnchorRejection) in .fractalPayment(try read(FractalPaymentV1.self, p)) }
        case (.mint, tokVersion): return { p throws(AnchorRejection) in .mint(try read(TokenMint.self, p)) }
        case (.buyOffer, tokVersion): return { p throws(AnchorRejection) in .buyOffer(try read(TokenBuyOffer.self, p)) }
        case (.sellOffer, tokVersion):
            return { p throws(AnchorRejection) in .sellOffer(try read(TokenSellOffer.self, p)) }
        case (.invoice, tokVersion): return { p throws(AnchorRejection) in .invoice(try read(TokenInvoice.self, p)) }
        case (.payment, tokVersion): return { p throws(AnchorRejection) in .payment(try read(TokenPayment.self, p)) }
        case (.deleteBuyOffer, tokVersion):
            return { p throws(AnchorRejection) in .deleteBuyOffer(try read(OfferDeletion.self, p)) }
        case (.deleteSellOffer, tokVersion):
            return { p throws(AnchorRejection) in .deleteSellOffer(try read(OfferDeletion.self, p)) }
        case (.approval, tokVersion): return { p throws(AnchorRejection) in .approval(try read(TokenApproval.self, p)) }
        default: return nil
        }
    }

    // MARK: Composing

    /// The OP_RETURN data for `message`: header and canonical payload. Refuses exactly what
    /// `decode` would refuse (it decodes its own result), including more than 80 bytes.
    public static func compose(_ message: TokenMessage) throws(AnchorRejection) -> [UInt8] {
        let data = tag + [message.action.rawValue, message.version] + message.payload
        switch decode(data: data) {
        case .message(let decoded) where decoded == message:
            return data
        case .invalid(let rejection):
            throw rejection
        default:
            throw AnchorRejection(.notCanonical, "the message does not survive its own encoding")
        }
    }

    /// The whole output script: OP_RETURN and one minimal push of `compose(message)`.
    public static func composeOutputScript(_ message: TokenMessage) throws(AnchorRejection) -> [UInt8] {
        let data = try compose(message)
        let push: [UInt8] = data.count <= 75 ? [UInt8(data.count)] : [opPushData1, UInt8(data.count)]
        return [opReturn] + push + data
    }
}
