/// Transactions as nodes serve them, in blocks and from `getrawtransaction <txid> false`: the
/// legacy form and, on Litecoin and Bitcoin, the SegWit form (BIP 144):
///   version ‖ 0x00 marker ‖ 0x01 flag ‖ inputs ‖ outputs ‖ one witness per input ‖ lockTime
///   witness = compactSize(k) ‖ k × (compactSize ‖ item)
/// The txid hashes the legacy form (no marker, flag or witnesses); the witness hash, which
/// `getrawtransaction` prints as `hash`, hashes every byte.

/// A transaction read from the wire, with the hashes of the bytes it was read from.
public struct UTXOParsedTransaction: Equatable, Sendable {
    public let transaction: UTXOTransaction
    /// One stack per input, each a list of items; empty when the transaction has no witness.
    public let witnesses: [[[UInt8]]]
    /// sha256d of the legacy serialization, as the hash function produced it.
    public let txidInternalBytes: [UInt8]
    /// sha256d of the whole serialization: the txid again when there is no witness.
    public let witnessHashInternalBytes: [UInt8]
    /// Bytes read, witnesses included (`size` in `getrawtransaction <txid> true`).
    public let byteCount: Int

    /// Display order (reversed), as `getrawtransaction` and explorers print it.
    public var txid: String { Hex.encode(txidInternalBytes.reversed()) }
    /// `hash` in `getrawtransaction <txid> true`.
    public var witnessHash: String { Hex.encode(witnessHashInternalBytes.reversed()) }
    public var hasWitness: Bool { !witnesses.isEmpty }
    public var inputs: [UTXOInput] { transaction.inputs }
    public var outputs: [UTXOOutput] { transaction.outputs }
    /// Core's IsCoinBase: exactly one input, spending the null outpoint.
    public var isCoinbase: Bool { transaction.inputs.count == 1 && transaction.inputs[0].previousOutput.isNull }
}

extension UTXOParsedTransaction {
    /// Reads one whole transaction (.badRawTx otherwise), legacy or SegWit, within what
    /// consensus allows in a block: a transaction a node serves is never refused for its size.
    public init(parsing bytes: [UInt8]) throws(TokError) {
        guard bytes.count <= RawBlock.maxSerializedBytes else {
            throw TokError(
                .badRawTx,
                "raw transaction is \(bytes.count) bytes; a block holds at most \(RawBlock.maxSerializedBytes)")
        }
        var reader = Wire.Reader(bytes: bytes)
        self = try UTXOTransaction.read(from: &reader, limits: .consensus)
        guard reader.isAtEnd else {
            throw TokError(.badRawTx, "raw transaction has \(reader.remaining) bytes after the lock time")
        }
    }

    /// Parses hex as `getrawtransaction <txid> false` prints it.
    public init(hex: some StringProtocol) throws(TokError) {
        try self.init(
            parsing: Wire.bytes(
                hex: hex, maxBytes: RawBlock.maxSerializedBytes, subject: "raw transaction", code: .badRawTx))
    }
}

/// How much one transaction read from the wire may hold, and which forms it may take. Every
/// count is checked against these before its list is allocated, and against the bytes left.
struct UTXOReadLimits {
    var maxInputs: Int
    var maxOutputs: Int
    var maxScriptBytes: Int
    /// SegWit's marker, flag and witnesses (Litecoin and Bitcoin; Dogecoin has none).
    var allowsWitness: Bool
    /// Consensus rules on outputs: at least one, none negative. Dogecoin does not apply them to
    /// a merge-mined block's parent coinbase (the AuxPoW regtest mines has no outputs at all).
    var checksOutputs: Bool

    /// A transaction on its own, as tok signs and relays it: policy sizes, legacy form only.
    static let standalone = UTXOReadLimits(
        maxInputs: UTXOTransaction.maxInputs, maxOutputs: UTXOTransaction.maxOutputs,
        maxScriptBytes: UTXOTransaction.maxScriptBytes, allowsWitness: false, checksOutputs: true)
    /// Inside a block: only what consensus bounds, so that no valid block is refused. The
    /// non-witness part of a block is at most `RawBlock.maxBaseBytes`; an input takes at least
    /// 41 bytes of it (outpoint 36, script length 1, sequence 4), an output at least 9.
    static let consensus = UTXOReadLimits(
        maxInputs: RawBlock.maxBaseBytes / 41, maxOutputs: RawBlock.maxBaseBytes / 9,
        maxScriptBytes: RawBlock.maxBaseBytes, allowsWitness: true, checksOutputs: true)
    static let auxPowCoinbase = UTXOReadLimits(
        maxInputs: consensus.maxInputs, maxOutputs: consensus.maxOutputs,
        maxScriptBytes: consensus.maxScriptBytes, allowsWitness: true, checksOutputs: false)
}

extension UTXOTransaction {
    /// Reads one transaction at the reader's position, leaving the reader after its lock time.
    /// Refuses (.badRawTx) non-minimal length prefixes, no inputs, anything over `limits`, and
    /// the forms Core would not read back: a flag other than 0x01 (Litecoin's MWEB uses 0x08),
    /// a witness section in which every stack is empty.
    static func read(from reader: inout Wire.Reader, limits: UTXOReadLimits) throws(TokError) -> UTXOParsedTransaction {
        let start = reader.offset
        let version = Int32(bitPattern: UInt32(truncatingIfNeeded: try reader.littleEndian(byteCount: 4)))
        let hasWitness = try readSegWitMarker(from: &reader, allowed: limits.allowsWitness)
        let bodyStart = reader.offset
        let inputs = try readInputs(from: &reader, limits: limits)
        let outputs = try readOutputs(from: &reader, limits: limits)
        let bodyEnd = reader.offset
        let witnesses = hasWitness ? try readWitnesses(from: &reader, inputCount: inputs.count) : []
        let lockTimeStart = reader.offset
        let lockTime = UInt32(truncatingIfNeeded: try reader.littleEndian(byteCount: 4))
        let end = reader.offset

        let witnessHash = reader.sha256d(start..<end)
        var txid = witnessHash
        if hasWitness {
            let legacy =
                reader.bytes[start..<start + 4] + reader.bytes[bodyStart..<bodyEnd] + reader.bytes[lockTimeStart..<end]
            txid = Hashing.sha256d(Array(legacy))
        }
        return UTXOParsedTransaction(
            transaction: UTXOTransaction(version: version, inputs: inputs, outputs: outputs, lockTime: lockTime),
            witnesses: witnesses, txidInternalBytes: txid, witnessHashInternalBytes: witnessHash,
            byteCount: end - start)
    }

    /// A zero input count is where SegWit puts its marker byte (0x00) and flag. True when the
    /// marker and flag 0x01 were read; false (nothing read) for a legacy transaction.
    private static func readSegWitMarker(from reader: inout Wire.Reader, allowed: Bool) throws(TokError) -> Bool {
        guard reader.peek() == 0x00 else { return false }
        let flag = reader.peek(offset: 1)
        guard allowed else {
            if flag == 0x01 {
                throw TokError(
                    .badRawTx,
                    "raw transaction uses the SegWit serialization (marker 0x00, flag 0x01); "
                        + "only legacy transactions are supported (Dogecoin 1.14 has no SegWit)")
            }
            throw TokError(.badRawTx, "raw transaction has no inputs")
        }
        switch flag {
        case 0x01:
            _ = try reader.take(2)
            return true
        case 0x00, nil:
            throw TokError(.badRawTx, "raw transaction has no inputs")
        case let other? where other & 0x08 != 0:
            throw TokError(
                .badRawTx, "raw transaction uses Litecoin's MWEB serialization (flag \(other)), which tok does not read"
            )
        case let other?:
            throw TokError(.badRawTx, "raw transaction has the unknown serialization flag \(other)")
        }
    }

    private static func readInputs(
        from reader: inout Wire.Reader, limits: UTXOReadLimits
    ) throws(TokError) -> [UTXOInput] {
        let inputCount = try reader.compactSize(max: limits.maxInputs, what: "input count")
        guard inputCount > 0 else { throw TokError(.badRawTx, "raw transaction has no inputs") }
        var inputs: [UTXOInput] = []
        inputs.reserveCapacity(min(inputCount, reader.remaining / 41))
        for _ in 0..<inputCount {
            let txid = try reader.take(32)
            let vout = UInt32(truncatingIfNeeded: try reader.littleEndian(byteCount: 4))
            let scriptLength = try reader.compactSize(max: limits.maxScriptBytes, what: "scriptSig length")
            let scriptSig = try reader.take(scriptLength)
            let sequence = UInt32(truncatingIfNeeded: try reader.littleEndian(byteCount: 4))
            inputs.append(
                UTXOInput(
                    previousOutput: UTXOOutPoint(txidInternalBytes: txid, vout: vout),
                    scriptSig: scriptSig, sequence: sequence))
        }
        return inputs
    }

    private static func readOutputs(
        from reader: inout Wire.Reader, limits: UTXOReadLimits
    ) throws(TokError) -> [UTXOOutput] {
        let outputCount = try reader.compactSize(max: limits.maxOutputs, what: "output count")
        guard outputCount > 0 || !limits.checksOutputs else {
            throw TokError(.badRawTx, "raw transaction has no outputs")
        }
        var outputs: [UTXOOutput] = []
        outputs.reserveCapacity(min(outputCount, reader.remaining / 9))
        for index in 0..<outputCount {
            let value = try reader.littleEndian(byteCount: 8)
            // Core reads the value as a signed 64-bit CAmount; the top bit set means negative.
            guard value <= UInt64(Int64.max) || !limits.checksOutputs else {
                throw TokError(.badRawTx, "output \(index) has a negative value")
            }
            let scriptLength = try reader.compactSize(max: limits.maxScriptBytes, what: "scriptPubKey length")
            outputs.append(UTXOOutput(valueBaseUnits: value, scriptPubKey: try reader.take(scriptLength)))
        }
        return outputs
    }

    /// One stack per input. Item counts and sizes are bounded by the bytes left: each item
    /// takes at least its one-byte length.
    private static func readWitnesses(from reader: inout Wire.Reader, inputCount: Int) throws(TokError) -> [[[UInt8]]] {
        var witnesses: [[[UInt8]]] = []
        witnesses.reserveCapacity(min(inputCount, reader.remaining))
        var itemTotal = 0
        for index in 0..<inputCount {
            let itemCount = try reader.compactSize(max: reader.remaining, what: "witness item count of input \(index)")
            var stack: [[UInt8]] = []
            stack.reserveCapacity(itemCount)
            for _ in 0..<itemCount {
                let length = try reader.compactSize(
                    max: reader.remaining, what: "witness item length of input \(index)")
                stack.append(try reader.take(length))
            }
            itemTotal += itemCount
            witnesses.append(stack)
        }
        // Core refuses a marker and flag followed by nothing but empty stacks ("superfluous witness record").
        guard itemTotal > 0 else {
            throw TokError(.badRawTx, "raw transaction has the SegWit flag but no witness data")
        }
        return witnesses
    }
}
