/// Blocks as `getblock <hash> false` serialises them, the form every Dogecoin 1.14 release
/// answers (all integers little-endian, hashes in the order the hash function produced them):
///   header (80) ‖ [AuxPoW, when the chain merge-mines and the version has flag 0x100]
///   ‖ compactSize(n) ‖ n × transaction
///   header = version (4, signed) ‖ previous block hash (32) ‖ merkle root (32) ‖ time (4)
///            ‖ bits (4) ‖ nonce (4)
///   AuxPoW = parent coinbase transaction ‖ parent block hash (32) ‖ coinbase merkle branch
///            ‖ coinbase index (4) ‖ chain merkle branch ‖ chain index (4) ‖ parent header (80)
///   branch = compactSize(k) ‖ k × 32-byte hash
/// The AuxPoW is read and kept, not judged: the node already checked the parent's proof of
/// work. The merkle root is judged: it binds the transactions to the header's hash.

/// The 80-byte block header; its sha256d is the block hash (on Dogecoin too, whose proof of
/// work is scrypt of the header or of the AuxPoW parent's).
public struct UTXOBlockHeader: Equatable, Sendable {
    public static let byteCount = 80
    /// VERSION_AUXPOW: on a merge-mining chain, an AuxPoW section follows the header.
    public static let auxPowVersionFlag: UInt32 = 0x100

    public let version: Int32
    public let previousBlockHashInternalBytes: [UInt8]
    public let merkleRootInternalBytes: [UInt8]
    /// Seconds since the Unix epoch, as the miner wrote them.
    public let time: UInt32
    /// The compact proof-of-work target (`bits` in getblockheader, there as 8 hex digits).
    public let bits: UInt32
    public let nonce: UInt32
    /// sha256d of the 80 bytes.
    public let hashInternalBytes: [UInt8]

    /// Exactly 80 bytes (.badRawBlock otherwise).
    public init(parsing bytes: [UInt8]) throws(TokError) {
        guard bytes.count == UTXOBlockHeader.byteCount else {
            throw TokError(.badRawBlock, "a block header is \(UTXOBlockHeader.byteCount) bytes, got \(bytes.count)")
        }
        var reader = Wire.Reader(bytes: bytes, subject: "block header")
        do {
            try self.init(reading: &reader)
        } catch {
            throw TokError(.badRawBlock, error.message)
        }
    }

    /// Reads 80 bytes at the reader's position.
    init(reading reader: inout Wire.Reader) throws(TokError) {
        let start = reader.offset
        version = Int32(bitPattern: UInt32(truncatingIfNeeded: try reader.littleEndian(byteCount: 4)))
        previousBlockHashInternalBytes = try reader.take(32)
        merkleRootInternalBytes = try reader.take(32)
        time = UInt32(truncatingIfNeeded: try reader.littleEndian(byteCount: 4))
        bits = UInt32(truncatingIfNeeded: try reader.littleEndian(byteCount: 4))
        nonce = UInt32(truncatingIfNeeded: try reader.littleEndian(byteCount: 4))
        hashInternalBytes = reader.sha256d(start..<reader.offset)
    }

    /// Display order (reversed), as `getblockhash` prints it.
    public var hash: String { Hex.encode(hashInternalBytes.reversed()) }
    /// All zeros for a genesis block (getblockheader then has no `previousblockhash`).
    public var previousBlockHash: String { Hex.encode(previousBlockHashInternalBytes.reversed()) }
    public var merkleRoot: String { Hex.encode(merkleRootInternalBytes.reversed()) }
    public var hasAuxPowFlag: Bool { UInt32(bitPattern: version) & UTXOBlockHeader.auxPowVersionFlag != 0 }
    /// The top 16 bits of the version: Dogecoin's merged-mining chain id (0x62) from AuxPoW on.
    public var auxPowChainId: UInt32 { UInt32(bitPattern: version) >> 16 }
}

/// A merge-mined block's proof: a parent chain's coinbase that commits to this block, the
/// merkle branches linking it to the parent header, and that header.
public struct UTXOAuxPow: Equatable, Sendable {
    /// Dogecoin's consensus refuses a longer chain merkle branch ("Aux POW chain merkle branch too long").
    public static let maxChainMerkleBranchLength = 30

    public let coinbase: UTXOParsedTransaction
    /// The parent block's hash as the miner wrote it (Dogecoin never checks it; regtest writes zeros).
    public let parentBlockHashInternalBytes: [UInt8]
    /// Links `coinbase` to the parent header's merkle root; hashes in internal order.
    public let coinbaseMerkleBranch: [[UInt8]]
    /// The coinbase's index in the parent block (0 in every valid AuxPoW).
    public let coinbaseIndex: Int32
    /// Links this chain's block hash to the root committed in the parent coinbase.
    public let chainMerkleBranch: [[UInt8]]
    public let chainIndex: Int32
    public let parentHeader: UTXOBlockHeader

    init(reading reader: inout Wire.Reader) throws(TokError) {
        do {
            coinbase = try UTXOTransaction.read(from: &reader, limits: .auxPowCoinbase)
        } catch {
            throw TokError(.badRawBlock, "AuxPoW parent coinbase: \(error.message)")
        }
        parentBlockHashInternalBytes = try reader.take(32)
        coinbaseMerkleBranch = try UTXOAuxPow.readBranch(
            from: &reader, max: reader.remaining / 32, what: "AuxPoW coinbase merkle branch length")
        coinbaseIndex = Int32(bitPattern: UInt32(truncatingIfNeeded: try reader.littleEndian(byteCount: 4)))
        chainMerkleBranch = try UTXOAuxPow.readBranch(
            from: &reader, max: UTXOAuxPow.maxChainMerkleBranchLength,
            what: "AuxPoW chain merkle branch length")
        chainIndex = Int32(bitPattern: UInt32(truncatingIfNeeded: try reader.littleEndian(byteCount: 4)))
        parentHeader = try UTXOBlockHeader(reading: &reader)
    }

    private static func readBranch(from reader: inout Wire.Reader, max: Int, what: String) throws(TokError) -> [[UInt8]]
    {
        let length = try reader.compactSize(max: max, what: what)
        var branch: [[UInt8]] = []
        branch.reserveCapacity(length)
        for _ in 0..<length { branch.append(try reader.take(32)) }
        return branch
    }
}

/// A whole block: header, AuxPoW where there is one, and every transaction with its txid.
public struct RawBlock: Equatable, Sendable {
    /// Consensus MAX_BLOCK_SERIALIZED_SIZE of Litecoin and Bitcoin (witnesses included);
    /// Dogecoin's blocks stay within `maxBaseBytes`.
    public static let maxSerializedBytes = 4_000_000
    /// Consensus MAX_BLOCK_BASE_SIZE: a block without its witnesses (with its AuxPoW, on Dogecoin).
    public static let maxBaseBytes = 1_000_000
    /// The smallest transaction in a block without its witness: version 4, input count 1,
    /// an input of 41, output count 1, an output of 9, lock time 4.
    static let minTransactionBytes = 60
    public static let maxTransactions = maxBaseBytes / minTransactionBytes

    public let header: UTXOBlockHeader
    public let auxPow: UTXOAuxPow?
    /// In block order; the first is the coinbase, and no other is.
    public let transactions: [UTXOParsedTransaction]
    public let byteCount: Int

    public var hash: String { header.hash }
    public var previousBlockHash: String { header.previousBlockHash }

    /// Parses a serialised block of `chain` (.badRawBlock for anything else): at most
    /// `maxSerializedBytes`, no bytes after the last transaction, the coinbase first and only
    /// first, and the header's merkle root equal to the root of the txids.
    public init(parsing bytes: [UInt8], chain: UTXOChainParameters) throws(TokError) {
        guard bytes.count <= RawBlock.maxSerializedBytes else {
            throw TokError(
                .badRawBlock, "raw block is \(bytes.count) bytes; at most \(RawBlock.maxSerializedBytes) are accepted")
        }
        var reader = Wire.Reader(bytes: bytes, subject: "raw block")
        do {
            header = try UTXOBlockHeader(reading: &reader)
            if chain.auxPowChainId != nil && header.hasAuxPowFlag {
                auxPow = try UTXOAuxPow(reading: &reader)
            } else {
                auxPow = nil
            }
            transactions = try RawBlock.readTransactions(from: &reader)
        } catch {
            throw TokError(.badRawBlock, error.message)
        }
        guard reader.isAtEnd else {
            throw TokError(
                .badRawBlock,
                "raw block has \(reader.remaining) bytes after its last transaction"
                    + " (a Litecoin MWEB extension block is not read)")
        }
        byteCount = bytes.count
        try checkTransactions()
    }

    /// Parses hex as `getblock <hash> false` prints it.
    public init(hex: some StringProtocol, chain: UTXOChainParameters) throws(TokError) {
        try self.init(
            parsing: Wire.bytes(
                hex: hex, maxBytes: RawBlock.maxSerializedBytes, subject: "raw block", code: .badRawBlock),
            chain: chain)
    }

    private static func readTransactions(from reader: inout Wire.Reader) throws(TokError) -> [UTXOParsedTransaction] {
        let count = try reader.compactSize(max: maxTransactions, what: "transaction count")
        guard count > 0 else { throw TokError(.badRawBlock, "raw block has no transactions") }
        var transactions: [UTXOParsedTransaction] = []
        transactions.reserveCapacity(min(count, reader.remaining / minTransactionBytes))
        for index in 0..<count {
            do {
                transactions.append(try UTXOTransaction.read(from: &reader, limits: .consensus))
            } catch {
                throw TokError(.badRawBlock, "transaction \(index): \(error.message)")
            }
        }
        return transactions
    }

    private func checkTransactions() throws(TokError) {
        guard transactions[0].isCoinbase else {
            throw TokError(.badRawBlock, "the first transaction of block \(hash) is not a coinbase")
        }
        if let index = transactions.indices.dropFirst().first(where: { transactions[$0].isCoinbase }) {
            throw TokError(.badRawBlock, "transaction \(index) of block \(hash) is a second coinbase")
        }
        let (root, mutated) = RawBlock.merkleRoot(of: transactions.map(\.txidInternalBytes))
        guard root == header.merkleRootInternalBytes else {
            throw TokError(
                .badRawBlock,
                "the transactions of block \(hash) hash to the merkle root "
                    + "\(Hex.encode(root.reversed())), not to the header's \(header.merkleRoot)")
        }
        // CVE-2012-2459: repeating the last transactions of a level leaves the root unchanged.
        guard !mutated else {
            throw TokError(.badRawBlock, "block \(hash) lists a transaction twice in a way that keeps its merkle root")
        }
    }

    /// Core's merkle root: pairs hashed level by level (sha256d of the 64 bytes), an odd last
    /// hash paired with itself. `mutated` when a level holds two equal hashes as a pair, the
    /// duplication CVE-2012-2459 exploits (Core refuses such a block).
    public static func merkleRoot(of hashes: [[UInt8]]) -> (root: [UInt8], mutated: Bool) {
        guard !hashes.isEmpty else { return ([UInt8](repeating: 0, count: 32), false) }
        var level = hashes
        var mutated = false
        while level.count > 1 {
            var next: [[UInt8]] = []
            next.reserveCapacity((level.count + 1) / 2)
            for pairStart in stride(from: 0, to: level.count, by: 2) {
                let left = level[pairStart]
                if pairStart + 1 < level.count {
                    if level[pairStart + 1] == left { mutated = true }
                    next.append(Hashing.sha256d(left + level[pairStart + 1]))
                } else {
                    next.append(Hashing.sha256d(left + left))
                }
            }
            level = next
        }
        return (level[0], mutated)
    }
}
