/// tok's signed off-chain records: a mint record, an invoice, a sell offer, a buy offer. A
/// record is a JSON object; its hash is SHA-256 of its RFC 8785 canonical text, which the
/// anchor carries; its author signs the hash's 64 lowercase hex digits with the chain's
/// `signmessage` (`dogecoin-cli signmessage AUTHOR HASHHEX`). The chain id and the expiry
/// height are inside what is signed, so a signature holds on one chain, before one height.
///
/// Records only add information (title, contract of sale, ...): every balance change follows
/// from the anchor. A record whose mirrored terms contradict its anchor is not attached to it
/// (`contradiction(with:...)`). Schemas and limits: man/tok-protocol.7, "Off-chain records".
public struct TokenRecord: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case mint
        case invoice
        case sellOffer = "sell_offer"
        case buyOffer = "buy_offer"
    }

    /// The terms an anchor must repeat for the record to attach to it.
    public enum Terms: Hashable, Sendable {
        case mint(supply: UInt64, managers: [UTXOAddress], minApprovals: UInt8)
        case invoice(buyer: UTXOAddress, token: TokenId, quantity: UInt64, unitPriceKoinu: UInt64, payee: UTXOAddress?)
        case sellOffer(token: TokenId, quantity: UInt64, unitPriceKoinu: UInt64, payee: UTXOAddress?)
        case buyOffer(token: TokenId, quantity: UInt64, maxUnitPriceKoinu: UInt64)
    }

    public static let formatVersion: Int64 = 1
    public static let maxCanonicalBytes = 16_384

    public let kind: Kind
    public let chain: UTXOChainParameters
    /// Who signs: the owner of a mint, the seller of an invoice or sell offer, the buyer of a
    /// buy offer. P2PKH, since `signmessage` needs a key.
    public let author: UTXOAddress
    /// The record binds only to an anchor below this height; for offers and invoices it is also
    /// the on-chain expiry.
    public let expiryHeight: UInt32
    public let terms: Terms
    public let canonicalJSON: [UInt8]
    public let hash: RecordHash

    /// Checks the schema and computes the hash. Errors: .notAnObject, .missingField,
    /// .badFieldType, .badRecord (unknown member, bounds, size), .amountNotNumeric,
    /// .amountNotExact / .numberOutOfRange (numbers), address and chain id codes.
    public static func parse(_ json: JSON) throws(TokError) -> TokenRecord {
        guard json.isObject else { throw TokError(.notAnObject, "a token record is a JSON object") }
        let reader = RecordReader(json: json)
        guard try reader.integer("tok", 1...1) == formatVersion else {
            throw TokError(.badRecord, "tok must be \(formatVersion)")
        }
        let kindText = try reader.string("type")
        guard let kind = Kind(rawValue: kindText) else {
            throw TokError(
                .badRecord,
                "type must be one of \(Kind.allCases.map(\.rawValue).joined(separator: ", ")), got \(kindText)")
        }
        try reader.refuseUnknownMembers(allowed: RecordSchema.members(of: kind))
        let chain = try reader.chain("chain")
        let author = try reader.address(RecordSchema.authorMember(of: kind), chain: chain, signer: true)
        let expiry = UInt32(try reader.integer("expiry_height", 1...Int64(UInt32.max)))
        let terms = try readTerms(kind, reader, chain)
        try reader.checkFreeText(kind)
        let canonical = try CanonicalJSON.encode(json)
        guard canonical.count <= maxCanonicalBytes else {
            throw TokError(.badRecord, "the canonical record is \(canonical.count) bytes, at most \(maxCanonicalBytes)")
        }
        return TokenRecord(
            kind: kind, chain: chain, author: author, expiryHeight: expiry, terms: terms,
            canonicalJSON: canonical, hash: RecordHash(bytes: Hashing.sha256(canonical)) ?? .zero)
    }

    private static func readTerms(
        _ kind: Kind, _ reader: RecordReader, _ chain: UTXOChainParameters
    ) throws(TokError) -> Terms {
        switch kind {
        case .mint:
            let supply = try reader.decimal("supply", max: TokenProtocol.maxQuantity)
            let managers = try reader.managers(chain: chain)
            let approvals = managers.isEmpty ? 0 : try reader.integer("min_approvals", 1...Int64(managers.count))
            if managers.isEmpty && reader.json.has("min_approvals") {
                throw TokError(.badRecord, "min_approvals needs managers")
            }
            return .mint(supply: supply, managers: managers, minApprovals: UInt8(approvals))
        case .invoice, .sellOffer:
            let token = try reader.token("token")
            let (quantity, price) = try reader.priced("unit_price_koinu")
            let payee = try reader.json.has("payee") ? reader.address("payee", chain: chain, signer: false) : nil
            if kind == .sellOffer {
                return .sellOffer(token: token, quantity: quantity, unitPriceKoinu: price, payee: payee)
            }
            let buyer = try reader.address("buyer", chain: chain, signer: false)
            return .invoice(buyer: buyer, token: token, quantity: quantity, unitPriceKoinu: price, payee: payee)
        case .buyOffer:
            let token = try reader.token("token")
            let (quantity, price) = try reader.priced("max_unit_price_koinu")
            return .buyOffer(token: token, quantity: quantity, maxUnitPriceKoinu: price)
        }
    }

    // MARK: Signatures

    /// The text the author signs: the record hash in lowercase hex.
    public var signedText: String { hash.hex }

    /// The chain's `signmessage` signature (base64) of `signedText`.
    public func sign(key: PrivateKey, compressed: Bool = true) -> String {
        MessageSigning.sign(message: signedText, magic: chain.messageMagic, key: key, compressed: compressed)
    }

    /// Throws .badSignature unless `signatureBase64` is the author's signature of `signedText`.
    public func verifySignature(_ signatureBase64: String) throws(TokError) {
        let recovered: (publicKey: [UInt8], compressed: Bool)
        do {
            recovered = try MessageSigning.recoverPublicKey(
                message: signedText, magic: chain.messageMagic,
                signatureBase64: signatureBase64)
        } catch {
            throw TokError(.badSignature, "record signature: \(error.message)")
        }
        guard UTXOAddress.p2pkh(publicKey: recovered.publicKey) == author else {
            throw TokError(
                .badSignature,
                "the record is not signed by its \(RecordSchema.authorMember(of: kind)) \(author.encode(chain: chain))")
        }
    }
}

extension TokenRecord {
    /// Why this record cannot attach to `message`, anchored at `anchorHeight` by `anchorAuthor`
    /// (input 0's address) with `parties` (TokenProtocol.namedParties); nil when every mirrored
    /// term agrees. The caller found the record by the anchor's record hash.
    public func contradiction(
        with message: TokenMessage, anchorAuthor: UTXOAddress,
        parties: [(role: NamedOutputRole, address: UTXOAddress)], anchorHeight: UInt32
    ) -> String? {
        guard anchorAuthor == author else {
            return "anchored by \(anchorAuthor.encode(chain: chain)), not by the record's author"
        }
        guard anchorHeight < expiryHeight else {
            return "anchored at height \(anchorHeight), the record expired at \(expiryHeight)"
        }
        let named = { (role: NamedOutputRole) in parties.first { $0.role == role }?.address }
        switch (terms, message) {
        case let (.mint(supply, managers, approvals), .mint(mint)):
            if mint.recordHash != hash { return "the mint binds another record" }
            if mint.supply != supply { return "supply \(mint.supply) on chain, \(supply) in the record" }
            let onChain = parties.compactMap { if case .manager = $0.role { return $0.address } else { return nil } }
            if onChain != managers || mint.minApprovals != approvals { return "the managers or min_approvals differ" }
            return nil
        case let (.invoice(buyer, token, quantity, price, payee), .invoice(invoice)):
            if invoice.recordHash != hash { return "the invoice binds another record" }
            if named(.buyer) != buyer { return "the named buyer differs" }
            return sellingMismatch(
                token, quantity, price, payee, invoice.token, invoice.quantity, invoice.unitPriceKoinu,
                invoice.expiryHeight, invoice.payee, named(.payee))
        case let (.sellOffer(token, quantity, price, payee), .sellOffer(offer)):
            if offer.recordHash != hash { return "the offer binds another record" }
            return sellingMismatch(
                token, quantity, price, payee, offer.token, offer.quantity, offer.unitPriceKoinu,
                offer.expiryHeight, offer.payee, named(.payee))
        case let (.buyOffer(token, quantity, price), .buyOffer(offer)):
            if offer.recordHash != hash { return "the offer binds another record" }
            if (offer.token, offer.quantity, offer.maxUnitPriceKoinu, offer.expiryHeight) != (
                token, quantity, price, expiryHeight
            ) {
                return "token, quantity, max_unit_price_koinu or expiry_height differ"
            }
            return nil
        default:
            return
                "a \(kind.rawValue) record does not attach to a \(message.action) anchor of version \(message.version)"
        }
    }

    private func sellingMismatch(
        _ token: TokenId, _ quantity: UInt64, _ price: UInt64, _ payee: UTXOAddress?,
        _ anchorToken: TokenId, _ anchorQuantity: UInt64, _ anchorPrice: UInt64, _ anchorExpiry: UInt32,
        _ anchorPayee: Payee, _ namedPayee: UTXOAddress?
    ) -> String? {
        if (anchorToken, anchorQuantity, anchorPrice, anchorExpiry) != (token, quantity, price, expiryHeight) {
            return "token, quantity, unit_price_koinu or expiry_height differ"
        }
        switch (payee, anchorPayee) {
        case (nil, .seller): return nil
        case (let address?, .namedOutput) where address == namedPayee: return nil
        default: return "the payee differs"
        }
    }
}

/// Member lists and limits of the four record kinds.
enum RecordSchema {
    static let titleBytes = 1...128
    static let descriptionBytes = 1...4096
    static let contractBytes = 1...8192
    static let memoBytes = 1...512
    static let managerNameBytes = 1...64
    static let metadataEntries = 32
    static let metadataKeyBytes = 1...64
    static let metadataValueBytes = 0...1024

    static func authorMember(of kind: TokenRecord.Kind) -> String {
        switch kind {
        case .mint: return "owner"
        case .invoice, .sellOffer: return "seller"
        case .buyOffer: return "buyer"
        }
    }

    static func members(of kind: TokenRecord.Kind) -> Set<String> {
        let common: Set<String> = ["tok", "type", "chain", "expiry_height", authorMember(of: kind)]
        switch kind {
        case .mint:
            return common.union([
                "supply", "title", "description", "metadata", "contract_of_sale", "managers", "min_approvals",
            ])
        case .invoice:
            return common.union(["buyer", "token", "quantity", "unit_price_koinu", "payee", "contract_of_sale", "memo"])
        case .sellOffer:
            return common.union(["token", "quantity", "unit_price_koinu", "payee", "memo"])
        case .buyOffer:
            return common.union(["token", "quantity", "max_unit_price_koinu", "memo"])
        }
    }

    /// Free-text members: (name, byte bounds, required for this kind).
    static func freeText(of kind: TokenRecord.Kind) -> [(String, ClosedRange<Int>, Bool)] {
        switch kind {
        case .mint:
            return [
                ("title", titleBytes, true), ("description", descriptionBytes, false),
                ("contract_of_sale", contractBytes, false),
            ]
        case .invoice: return [("contract_of_sale", contractBytes, false), ("memo", memoBytes, false)]
        case .sellOffer, .buyOffer: return [("memo", memoBytes, false)]
        }
    }
}

/// Typed reads of one record's members, each with the error code man/tok-protocol.7 names.
struct RecordReader {
    let json: JSON

    func member(_ name: String) throws(TokError) -> JSON {
        guard let value = json[name] else { throw TokError(.missingField, "the record has no \(name)") }
        return value
    }

    func string(_ name: String) throws(TokError) -> String {
        guard let text = try member(name).stringValue, !text.isEmpty else {
            throw TokError(.badFieldType, "\(name) must be a non-empty string")
        }
        return text
    }

    func integer(_ name: String, _ range: ClosedRange<Int64>) throws(TokError) -> Int64 {
        let value = try member(name)
        if value.kind == .real { throw TokError(.amountNotExact, "\(name) must be an integer, not a JSON real") }
        guard let number = value.int64Value else { throw TokError(.badFieldType, "\(name) must be a JSON integer") }
        guard range.contains(number) else {
            throw TokError(.badRecord, "\(name) is \(number), outside \(range.lowerBound)...\(range.upperBound)")
        }
        return number
    }

    func chain(_ name: String) throws(TokError) -> UTXOChainParameters {
        let id = try ChainId(parsing: try string(name))
        guard id.namespace == "bip122" else {
            throw TokError(.unsupportedChainFamily, "token records live on bip122 chains, not \(id.namespace)")
        }
        guard let chain = UTXOChains.parameters(for: id) else {
            throw TokError(.unknownNetwork, "\(id) is not a chain tok knows")
        }
        return chain
    }

    /// A signer's address must be P2PKH: a P2SH script has no key to `signmessage` with.
    func address(_ name: String, chain: UTXOChainParameters, signer: Bool) throws(TokError) -> UTXOAddress {
        let address = try UTXOAddress.parse(try string(name), chain: chain)
        if signer && address.kind != .p2pkh {
            throw TokError(.badRecord, "\(name) signs the record, so it must be a P2PKH address")
        }
        return address
    }

    /// A canonical decimal string (digits only, no leading zero) of 1...max.
    func decimal(_ name: String, max: UInt64) throws(TokError) -> UInt64 {
        let text = try string(name)
        let digits = text.utf8
        guard digits.allSatisfy(UTF8Scan.isDigit), digits.first != UInt8(ascii: "0") || digits.count == 1 else {
            throw TokError(.amountNotNumeric, "\(name) must be a decimal string without sign or leading zeros")
        }
        guard let value = UInt64(text), value >= 1, value <= max else {
            throw TokError(.badRecord, "\(name) must be 1...\(max)")
        }
        return value
    }

    func token(_ name: String) throws(TokError) -> TokenId {
        guard let token = ChainPosition(parsing: try string(name)) else {
            throw TokError(.badRecord, "\(name) must be \"HEIGHT:INDEX\", the chain position of the token's mint")
        }
        return token
    }

    /// quantity and a unit price whose product is a koinu amount.
    func priced(_ priceName: String) throws(TokError) -> (quantity: UInt64, price: UInt64) {
        let quantity = try decimal("quantity", max: TokenProtocol.maxQuantity)
        let price = try decimal(priceName, max: TokenProtocol.maxMoneyKoinu)
        let (product, overflow) = quantity.multipliedReportingOverflow(by: price)
        guard !overflow, product <= TokenProtocol.maxMoneyKoinu else {
            throw TokError(.badRecord, "quantity × \(priceName) exceeds \(TokenProtocol.maxMoneyKoinu) koinu")
        }
        return (quantity, price)
    }

    /// `managers`: 1...16 objects `{"address": ..., "name": ...}` (name optional), distinct.
    func managers(chain: UTXOChainParameters) throws(TokError) -> [UTXOAddress] {
        guard let list = json["managers"] else { return [] }
        guard list.kind == .array else { throw TokError(.badFieldType, "managers must be an array") }
        guard (1...TokenProtocol.maxManagers).contains(list.count) else {
            throw TokError(.badRecord, "managers must list 1...\(TokenProtocol.maxManagers) entries")
        }
        var addresses: [UTXOAddress] = []
        for entry in list.arrayElements {
            guard entry.isObject else { throw TokError(.badFieldType, "each manager is an object") }
            let reader = RecordReader(json: entry)
            try reader.refuseUnknownMembers(allowed: ["address", "name"])
            addresses.append(try reader.address("address", chain: chain, signer: false))
            if entry.has("name") { try reader.text("name", RecordSchema.managerNameBytes) }
        }
        guard Set(addresses).count == addresses.count else { throw TokError(.badRecord, "a manager is listed twice") }
        return addresses
    }

    func refuseUnknownMembers(allowed: Set<String>) throws(TokError) {
        if let unknown = json.keys.first(where: { !allowed.contains($0) }) {
            throw TokError(
                .badRecord,
                "\(unknown) is not a member of this record (allowed: \(allowed.sorted().joined(separator: ", ")))")
        }
    }

    func text(_ name: String, _ bytes: ClosedRange<Int>) throws(TokError) {
        guard let text = try member(name).stringValue else { throw TokError(.badFieldType, "\(name) must be a string") }
        guard bytes.contains(text.utf8.count) else {
            throw TokError(
                .badRecord,
                "\(name) must be \(bytes.lowerBound)...\(bytes.upperBound) bytes of UTF-8, got \(text.utf8.count)")
        }
    }

    func checkFreeText(_ kind: TokenRecord.Kind) throws(TokError) {
        for (name, bytes, required) in RecordSchema.freeText(of: kind) where required || json.has(name) {
            try text(name, bytes)
        }
        guard kind == .mint, let metadata = json["metadata"] else { return }
        guard metadata.isObject else { throw TokError(.badFieldType, "metadata must be an object of strings") }
        guard metadata.count <= RecordSchema.metadataEntries else {
            throw TokError(
                .badRecord, "metadata has \(metadata.count) entries, at most \(RecordSchema.metadataEntries)")
        }
        let reader = RecordReader(json: metadata)
        for key in metadata.keys {
            guard RecordSchema.metadataKeyBytes.contains(key.utf8.count) else {
                throw TokError(
                    .badRecord, "metadata keys must be 1...\(RecordSchema.metadataKeyBytes.upperBound) bytes")
            }
            try reader.text(key, RecordSchema.metadataValueBytes)
        }
    }
}
