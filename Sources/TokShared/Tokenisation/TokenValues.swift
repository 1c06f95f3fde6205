/// A SHA-256 digest that binds an off-chain record (or names one of Fractal Engine's). Always
/// 32 bytes: the failable initialisers are the only way in.
public struct RecordHash: Hashable, Sendable, CustomStringConvertible {
    public static let byteCount = 32
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == RecordHash.byteCount else { return nil }
        self.bytes = bytes
    }

    private init(zeroed: ()) { bytes = [UInt8](repeating: 0, count: RecordHash.byteCount) }

    /// Never a real record's hash; a placeholder where a checked field cannot be absent.
    static let zero = RecordHash(zeroed: ())

    /// 64 lowercase hex digits, the form tok prints and signs; anything else is nil.
    public init?(hex: some StringProtocol) {
        guard hex.utf8.count == 2 * RecordHash.byteCount,
            let bytes = ProtoWire.lowercaseHexDecode(Array(hex.utf8))
        else { return nil }
        self.bytes = bytes
    }

    public var hex: String { Hex.encode(bytes) }
    public var description: String { hex }
}

/// A transaction's place in the chain: block height and index in the block (0 is the
/// coinbase). A token's id is the chain position of its mint anchor; offers, invoices and
/// matches are named the same way. Ordered by height, then index: "earliest chain position".
public struct ChainPosition: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let height: UInt32
    public let txIndex: UInt32

    public init(height: UInt32, txIndex: UInt32) {
        self.height = height
        self.txIndex = txIndex
    }

    /// "HEIGHT:INDEX" in canonical decimal (no sign, no leading zeros), each part 1...2^32-1:
    /// a position an anchor can have (not the genesis block, not a coinbase).
    public init?(parsing text: some StringProtocol) {
        let parts = String(text).split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let height = ChainPosition.positiveDecimal(parts[0]),
            let txIndex = ChainPosition.positiveDecimal(parts[1])
        else { return nil }
        self.init(height: height, txIndex: txIndex)
    }

    private static func positiveDecimal(_ text: Substring) -> UInt32? {
        guard let first = text.utf8.first, first != UInt8(ascii: "0"),
            text.utf8.allSatisfy(UTF8Scan.isDigit), text.utf8.count <= 10
        else { return nil }
        return UInt32(text)
    }

    public static func < (left: ChainPosition, right: ChainPosition) -> Bool {
        (left.height, left.txIndex) < (right.height, right.txIndex)
    }

    public var description: String { "\(height):\(txIndex)" }
}

/// A token is named by the chain position of the transaction that minted it, so copying a
/// mint's bytes makes a new token of the copier's, never more of the original.
public typealias TokenId = ChainPosition

/// What a payment pays, or an approval approves: a seller's invoice, or the match tok-apply
/// made between a sell offer and a buy offer (a pair of offers matches at most once).
public enum ReservationReference: Hashable, Sendable, CustomStringConvertible {
    case invoice(ChainPosition)
    case match(sellOffer: ChainPosition, buyOffer: ChainPosition)

    public var description: String {
        switch self {
        case .invoice(let position): return "invoice \(position)"
        case .match(let sell, let buy): return "match of sell offer \(sell) and buy offer \(buy)"
        }
    }
}

/// Where the buyer pays. `.seller` is the exact script that input 0 of the anchoring
/// transaction spends (the seller's own address); `.namedOutput` is the script of the named
/// output given by the message's layout (man/tok-protocol.7, "Named outputs").
public enum Payee: Hashable, Sendable {
    case seller
    case namedOutput
}
