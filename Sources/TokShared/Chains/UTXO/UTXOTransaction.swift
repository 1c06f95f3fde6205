/// Legacy (pre-SegWit) Bitcoin-family transactions, the only kind Dogecoin 1.14 has:
/// the wire format, txids, the legacy signature hash, and P2PKH signing.
///
/// Wire format (all integers little-endian):
///   version (4, signed) ‖ compactSize(n) ‖ n × input ‖ compactSize(m) ‖ m × output ‖ lockTime (4)
///   input  = previous txid (32, internal byte order) ‖ vout (4) ‖ compactSize ‖ scriptSig ‖ sequence (4)
///   output = value (8, base units) ‖ compactSize ‖ scriptPubKey

/// The output a transaction input spends.
public struct UTXOOutPoint: Hashable, Sendable, CustomStringConvertible {
    /// The txid as hashed: sha256d of the serialization, in the order the hash function
    /// produced it. RPC and explorers print it reversed (`txid`).
    public let txidInternalBytes: [UInt8]
    public let vout: UInt32

    /// `txid` in display order as the node prints it: 64 hex digits, no 0x prefix.
    public init(txid: some StringProtocol, vout: UInt32) throws(TokError) {
        guard txid.utf8.count == 64, let bytes = Hex.decode(txid), bytes.count == 32 else {
            throw TokError(.badTxId, "a bip122 txid is 64 hex digits (display order, no 0x prefix)")
        }
        self.init(txidInternalBytes: bytes.reversed(), vout: vout)
    }

    public init(txidInternalBytes: [UInt8], vout: UInt32) {
        precondition(txidInternalBytes.count == 32, "a txid is 32 bytes, got \(txidInternalBytes.count)")
        self.txidInternalBytes = txidInternalBytes
        self.vout = vout
    }

    /// Display order (reversed bytes), lowercase, as `getrawtransaction` and explorers show it.
    public var txid: String { Hex.encode(txidInternalBytes.reversed()) }

    /// A coinbase input's outpoint: all-zero txid, vout 0xffffffff.
    public var isNull: Bool { vout == .max && txidInternalBytes.allSatisfy { $0 == 0 } }

    public var description: String { "\(txid):\(vout)" }
}

public struct UTXOInput: Equatable, Sendable {
    /// Final, no relative lock time, no opt-in RBF.
    public static let finalSequence: UInt32 = 0xffff_ffff

    public var previousOutput: UTXOOutPoint
    public var scriptSig: [UInt8]
    public var sequence: UInt32

    public init(previousOutput: UTXOOutPoint, scriptSig: [UInt8] = [], sequence: UInt32 = UTXOInput.finalSequence) {
        self.previousOutput = previousOutput
        self.scriptSig = scriptSig
        self.sequence = sequence
    }
}

public struct UTXOOutput: Equatable, Sendable {
    /// Most data an OP_RETURN output may carry and still be relayed (Core's -datacarriersize
    /// default: an 83-byte script = OP_RETURN + OP_PUSHDATA1 + length + 80 bytes).
    public static let maxNullDataBytes = 80

    public var valueBaseUnits: UInt64
    public var scriptPubKey: [UInt8]

    public init(valueBaseUnits: UInt64, scriptPubKey: [UInt8]) {
        self.valueBaseUnits = valueBaseUnits
        self.scriptPubKey = scriptPubKey
    }

    /// Pays `valueBaseUnits` to `address`.
    public init(valueBaseUnits: UInt64, address: UTXOAddress) {
        self.init(valueBaseUnits: valueBaseUnits, scriptPubKey: address.scriptPubKey)
    }

    /// A zero-value `OP_RETURN <data>` output carrying up to 80 bytes: a direct push for 1–75
    /// bytes, OP_PUSHDATA1 for 76–80 (a direct push opcode only goes to 75), a bare OP_RETURN
    /// for none. More than 80 bytes is refused here, because nodes would refuse to relay it.
    public static func nullData(_ data: [UInt8]) throws(TokError) -> UTXOOutput {
        guard data.count <= maxNullDataBytes else {
            throw TokError(.badRawTx, "OP_RETURN data is \(data.count) bytes; at most \(maxNullDataBytes) are relayed")
        }
        return UTXOOutput(valueBaseUnits: 0, scriptPubKey: [Opcode.return] + Script.push(data))
    }

    /// True for outputs nobody can spend because the script starts with OP_RETURN.
    public var isNullData: Bool { scriptPubKey.first == Opcode.return }
}

/// Only SIGHASH_ALL: every input and output is signed. The other types (NONE, SINGLE,
/// ANYONECANPAY) let others change a transaction tok signed, which tok never wants.
public enum SighashType: UInt32, Sendable {
    case all = 1
}

public struct UTXOTransaction: Equatable, Sendable {
    /// Largest serialization parsed or produced: Dogecoin's and Bitcoin's MAX_STANDARD_TX_SIZE
    /// for legacy transactions (larger ones are never relayed).
    public static let maxSerializedBytes = 100_000
    /// Per-list bounds, checked before any list is allocated (a 100 KB transaction holds at
    /// most ~2,400 inputs or ~11,000 minimal outputs anyway).
    public static let maxInputs = 10_000
    public static let maxOutputs = 10_000
    /// Consensus MAX_SCRIPT_SIZE: a longer script can never be executed.
    public static let maxScriptBytes = 10_000

    // Size estimates for fees, in bytes. A P2PKH input with a compressed key is at most
    // 32 (txid) + 4 (vout) + 1 (script length) + 107 (scriptSig: 1 + 72-byte low-S DER
    // signature with sighash byte, 1 + 33-byte key) + 4 (sequence) = 148; a P2PKH output is
    // 8 + 1 + 25 = 34; version, lock time and two one-byte counts are 10.
    public static let p2pkhInputMaxBytes = 148
    public static let p2pkhOutputBytes = 34
    public static let overheadBytes = 10

    public var version: Int32
    public var inputs: [UTXOInput]
    public var outputs: [UTXOOutput]
    public var lockTime: UInt32

    public init(version: Int32 = 1, inputs: [UTXOInput], outputs: [UTXOOutput], lockTime: UInt32 = 0) {
        self.version = version
        self.inputs = inputs
        self.outputs = outputs
        self.lockTime = lockTime
    }

    // MARK: Wire format

    public func serialized() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(
            UTXOTransaction.overheadBytes + inputs.count * UTXOTransaction.p2pkhInputMaxBytes
                + outputs.count * UTXOTransaction.p2pkhOutputBytes)
        Wire.appendLittleEndian(UInt32(bitPattern: version), byteCount: 4, to: &out)
        Wire.appendCompactSize(inputs.count, to: &out)
        for input in inputs {
            out += input.previousOutput.txidInternalBytes
            Wire.appendLittleEndian(input.previousOutput.vout, byteCount: 4, to: &out)
            Wire.appendCompactSize(input.scriptSig.count, to: &out)
            out += input.scriptSig
            Wire.appendLittleEndian(input.sequence, byteCount: 4, to: &out)
        }
        Wire.appendCompactSize(outputs.count, to: &out)
        for output in outputs {
            Wire.appendLittleEndian(output.valueBaseUnits, byteCount: 8, to: &out)
            Wire.appendCompactSize(output.scriptPubKey.count, to: &out)
            out += output.scriptPubKey
        }
        Wire.appendLittleEndian(lockTime, byteCount: 4, to: &out)
        return out
    }

    public var serializedHex: String { Hex.encode(serialized()) }

    /// Parses a legacy serialization, refusing (.badRawTx) anything Core would not read back
    /// byte for byte: trailing bytes, non-minimal length prefixes, the SegWit marker and flag,
    /// no inputs or no outputs, a value above 2^63-1, and anything over the bounds above.
    public init(parsing bytes: [UInt8]) throws(TokError) {
        guard bytes.count <= UTXOTransaction.maxSerializedBytes else {
            throw TokError(
                .badRawTx,
                "raw transaction is \(bytes.count) bytes; at most \(UTXOTransaction.maxSerializedBytes) are accepted")
        }
        var reader = Wire.Reader(bytes: bytes)
        let parsed = try UTXOTransaction.read(from: &reader, limits: .standalone)
        guard reader.isAtEnd else {
            throw TokError(.badRawTx, "raw transaction has \(reader.remaining) bytes after the lock time")
        }
        self = parsed.transaction
    }

    /// Parses hex as `getrawtransaction` and `signrawtransaction*` print it.
    public init(hex: some StringProtocol) throws(TokError) {
        try self.init(
            parsing: Wire.bytes(
                hex: hex, maxBytes: UTXOTransaction.maxSerializedBytes, subject: "raw transaction", code: .badRawTx))
    }

    /// sha256d of the legacy serialization, in display order (what `sendrawtransaction` returns).
    public var txid: String { Hex.encode(Hashing.sha256d(serialized()).reversed()) }

    // MARK: Signing

    /// The legacy signature hash (before BIP 143, which Dogecoin never adopted): serialize a
    /// copy with every scriptSig empty except input `inputIndex`'s, which holds `scriptCode`
    /// (the script of the output being spent), append the hash type as 4 bytes little-endian,
    /// and sha256d the lot. The result is the 32-byte digest ECDSA signs, as the hash produced it.
    /// `scriptCode` is used as given: OP_CODESEPARATOR is not processed, as P2PKH has none.
    public func signatureHash(inputIndex: Int, scriptCode: [UInt8], hashType: SighashType = .all) -> [UInt8] {
        precondition(inputs.indices.contains(inputIndex), "input \(inputIndex) does not exist (\(inputs.count) inputs)")
        var copy = self
        for index in copy.inputs.indices {
            copy.inputs[index].scriptSig = index == inputIndex ? scriptCode : []
        }
        var preimage = copy.serialized()
        Wire.appendLittleEndian(hashType.rawValue, byteCount: 4, to: &preimage)
        return Hashing.sha256d(preimage)
    }

    /// Signs every input as a spend of a P2PKH output of the compressed public key of
    /// `keys[i]`: scriptSig = <DER signature ‖ 0x01> <33-byte public key>.
    /// With `previousScriptPubKeys` (the scripts of the outputs being spent, one per input),
    /// each is checked to be that key's P2PKH script first: signing anything else would give a
    /// transaction the network rejects, and the mistake is cheaper to see here (.badKey).
    /// The legacy sighash blanks all other scriptSigs, so inputs can be signed in any order.
    public mutating func signP2PKHInputs(keys: [PrivateKey], previousScriptPubKeys: [[UInt8]]? = nil) throws(TokError) {
        guard keys.count == inputs.count else {
            throw TokError(.badKey, "signing needs one key per input: \(inputs.count) inputs, \(keys.count) keys")
        }
        if let previousScriptPubKeys, previousScriptPubKeys.count != inputs.count {
            throw TokError(.badKey, "\(previousScriptPubKeys.count) previous output scripts for \(inputs.count) inputs")
        }
        var scriptSigs: [[UInt8]] = []
        scriptSigs.reserveCapacity(inputs.count)
        for (index, key) in keys.enumerated() {
            let publicKey = key.publicKey(compressed: true)
            let scriptCode = UTXOAddress.p2pkh(publicKey: publicKey).scriptPubKey
            if let previous = previousScriptPubKeys?[index], previous != scriptCode {
                throw TokError(
                    .badKey,
                    "input \(index) spends script \(Hex.encode(previous)), "
                        + "not the P2PKH script of its key (\(Hex.encode(scriptCode)))")
            }
            let digest = signatureHash(inputIndex: index, scriptCode: scriptCode, hashType: .all)
            let signature = key.signDER(digest32: digest)
            // libsecp256k1 verify refuses high-S signatures, so this checks the low-S rule that
            // relay policy enforces as well as the signature itself, before anything is sent.
            precondition(
                Secp256k1.verifyDER(signatureDER: signature, digest32: digest, publicKey: publicKey),
                "libsecp256k1 produced a signature that does not verify with low S")
            scriptSigs.append(Script.push(signature + [UInt8(SighashType.all.rawValue)]) + Script.push(publicKey))
        }
        for index in inputs.indices { inputs[index].scriptSig = scriptSigs[index] }
        let size = serialized().count
        guard size <= UTXOTransaction.maxSerializedBytes else {
            throw TokError(
                .badRawTx,
                "signed transaction is \(size) bytes; at most \(UTXOTransaction.maxSerializedBytes) are relayed")
        }
    }

    // MARK: Fees and policy

    /// Upper bound on the signed size of a transaction spending `p2pkhInputCount` P2PKH outputs
    /// (compressed keys) into outputs whose scripts have the given lengths. Exact but for the
    /// DER signatures, which are counted at their 72-byte maximum.
    public static func estimatedSizeBytes(p2pkhInputCount: Int, outputScriptByteCounts: [Int]) -> Int {
        var size =
            8 + Wire.compactSizeByteCount(p2pkhInputCount) + Wire.compactSizeByteCount(outputScriptByteCounts.count)
        size += p2pkhInputCount * p2pkhInputMaxBytes
        for scriptBytes in outputScriptByteCounts {
            size += 8 + Wire.compactSizeByteCount(scriptBytes) + scriptBytes
        }
        return size
    }

    /// `estimatedSizeBytes` for P2PKH (or P2SH: 2 bytes smaller, so still an upper bound) outputs only.
    public static func estimatedSizeBytes(p2pkhInputCount: Int, p2pkhOutputCount: Int) -> Int {
        estimatedSizeBytes(
            p2pkhInputCount: p2pkhInputCount,
            outputScriptByteCounts: Array(repeating: p2pkhOutputBytes - 9, count: p2pkhOutputCount))
    }

    /// The least fee `chain`'s relay policy asks of a transaction of `sizeBytes` with these
    /// outputs: the per-kilobyte rate (rounded up), at least the flat minimum, plus the soft
    /// dust penalty for each output below the soft dust limit. OP_RETURN outputs are counted
    /// too, which may overpay by one penalty but never underpays.
    public static func minimumFeeBaseUnits(
        sizeBytes: Int, outputValuesBaseUnits: [UInt64], chain: UTXOChainParameters
    ) -> UInt64 {
        precondition(sizeBytes >= 0, "a transaction size cannot be negative, got \(sizeBytes)")
        // Saturating arithmetic: an absurd configured rate gives an unpayable fee, not a trap.
        func product(_ a: UInt64, _ b: UInt64) -> UInt64 {
            let (value, overflow) = a.multipliedReportingOverflow(by: b)
            return overflow ? .max : value
        }
        func sum(_ a: UInt64, _ b: UInt64) -> UInt64 {
            let (value, overflow) = a.addingReportingOverflow(b)
            return overflow ? .max : value
        }
        let rateFee = sum(product(UInt64(sizeBytes), chain.minRelayFeePerKilobyteBaseUnits), 999) / 1000
        var fee = max(rateFee, chain.minTxFeeBaseUnits)
        if let softDust = chain.softDustLimitBaseUnits {
            fee = sum(fee, product(UInt64(outputValuesBaseUnits.filter { $0 < softDust }.count), softDust))
        }
        return fee
    }

    /// Checks the standardness rules tok can see without the UTXO set, so tok refuses to send
    /// what nodes would refuse to relay (.badRawTx): size, dust (OP_RETURN excepted), at most
    /// one OP_RETURN output of at most 80 data bytes, and values within MAX_MONEY.
    public func checkStandard(chain: UTXOChainParameters) throws(TokError) {
        let size = serialized().count
        guard size <= UTXOTransaction.maxSerializedBytes else {
            throw TokError(
                .badRawTx, "transaction is \(size) bytes; at most \(UTXOTransaction.maxSerializedBytes) are relayed")
        }
        var total: UInt64 = 0
        var nullDataCount = 0
        for (index, output) in outputs.enumerated() {
            guard output.valueBaseUnits <= chain.maxMoneyBaseUnits else {
                throw TokError(.badRawTx, "output \(index) exceeds \(chain.name)'s MAX_MONEY")
            }
            // Up to 10,000 terms of up to 10^18 can pass 2^64: an overflow is over MAX_MONEY too.
            let (sum, overflow) = total.addingReportingOverflow(output.valueBaseUnits)
            guard !overflow else { throw TokError(.badRawTx, "outputs add up to more than \(chain.name)'s MAX_MONEY") }
            total = sum
            if output.isNullData {
                nullDataCount += 1
                guard nullDataCount == 1 else {
                    throw TokError(.badRawTx, "more than one OP_RETURN output is not relayed")
                }
                guard output.scriptPubKey.count <= 3 + UTXOOutput.maxNullDataBytes,
                    Script.isPushOnly(output.scriptPubKey.dropFirst())
                else {
                    throw TokError(
                        .badRawTx,
                        "output \(index): OP_RETURN must be followed by pushes of at most \(UTXOOutput.maxNullDataBytes) bytes"
                    )
                }
            } else if output.valueBaseUnits < chain.dustLimitBaseUnits {
                throw TokError(
                    .badRawTx,
                    "output \(index) pays \(output.valueBaseUnits) base units, below \(chain.name)'s dust limit of \(chain.dustLimitBaseUnits)"
                )
            }
        }
        guard total <= chain.maxMoneyBaseUnits else {
            throw TokError(.badRawTx, "outputs add up to more than \(chain.name)'s MAX_MONEY")
        }
    }
}

/// Script building blocks.
enum Script {
    /// The push of `data` as a standard script writes it: a direct push opcode for 1–75 bytes,
    /// OP_PUSHDATA1 for 76–255 (longer data is never pushed by tok). Empty data pushes nothing.
    static func push(_ data: [UInt8]) -> [UInt8] {
        switch data.count {
        case 0: return []
        case 1...75: return [UInt8(data.count)] + data
        case 76...255: return [Opcode.pushData1, UInt8(data.count)] + data
        default: preconditionFailure("tok never pushes more than 255 bytes, got \(data.count)")
        }
    }

    /// True when `script` is only data pushes (opcodes up to OP_16, excluding OP_RESERVED),
    /// each complete: what relay policy asks of the bytes after OP_RETURN.
    static func isPushOnly(_ script: ArraySlice<UInt8>) -> Bool {
        pushedBytes(script) != nil
    }

    /// The bytes the pushes of `script` put on the stack, concatenated in order; nil when
    /// `script` holds anything but complete pushes (Core's IsPushOnly). OP_0 pushes nothing,
    /// OP_1NEGATE the byte 0x81, OP_1 to OP_16 the bytes 0x01 to 0x10, as the interpreter does.
    static func pushedBytes(_ script: ArraySlice<UInt8>) -> [UInt8]? {
        var pushed: [UInt8] = []
        var index = script.startIndex
        while index < script.endIndex {
            let opcode = script[index]
            index += 1
            var length = 0
            switch opcode {
            case 0x01...0x4b: length = Int(opcode)
            case 0x4c, 0x4d, 0x4e:
                let lengthBytes = opcode == 0x4c ? 1 : opcode == 0x4d ? 2 : 4
                guard script.endIndex - index >= lengthBytes else { return nil }
                for offset in 0..<lengthBytes { length |= Int(script[index + offset]) << (8 * offset) }
                index += lengthBytes
            case 0x00: length = 0
            case 0x4f: pushed.append(0x81)  // OP_1NEGATE
            case 0x51...0x60: pushed.append(opcode - 0x50)  // OP_1 ... OP_16
            default: return nil
            }
            guard script.endIndex - index >= length else { return nil }
            pushed += script[index..<index + length]
            index += length
        }
        return pushed
    }
}

/// Bitcoin's serialization primitives.
enum Wire {
    /// The bytes of hex as nodes print serialisations, refused (`code`) when longer than
    /// `maxBytes` (checked before decoding) or not an even number of hex digits.
    static func bytes(
        hex: some StringProtocol, maxBytes: Int, subject: String, code: ErrorCode
    ) throws(TokError) -> [UInt8] {
        guard hex.utf8.count <= 2 * maxBytes else {
            throw TokError(code, "\(subject) hex is longer than \(2 * maxBytes) digits")
        }
        guard let bytes = Hex.decode(hex) else {
            throw TokError(code, "\(subject) is not an even number of hex digits")
        }
        return bytes
    }

    static func appendLittleEndian<T: FixedWidthInteger>(_ value: T, byteCount: Int, to out: inout [UInt8]) {
        for index in 0..<byteCount { out.append(UInt8(truncatingIfNeeded: value >> (8 * index))) }
    }

    /// CompactSize: one byte below 0xfd, else 0xfd/0xfe/0xff and a 2/4/8-byte little-endian value.
    static func appendCompactSize(_ count: Int, to out: inout [UInt8]) {
        let value = UInt64(count)
        switch value {
        case 0..<0xfd: out.append(UInt8(value))
        case 0xfd...0xffff: out.append(0xfd); appendLittleEndian(value, byteCount: 2, to: &out)
        case 0x1_0000...0xffff_ffff: out.append(0xfe); appendLittleEndian(value, byteCount: 4, to: &out)
        default: out.append(0xff); appendLittleEndian(value, byteCount: 8, to: &out)
        }
    }

    static func compactSizeByteCount(_ count: Int) -> Int {
        switch UInt64(count) {
        case 0..<0xfd: return 1
        case 0xfd...0xffff: return 3
        case 0x1_0000...0xffff_ffff: return 5
        default: return 9
        }
    }

    /// Reads a serialization front to back; every failure is .badRawTx.
    struct Reader {
        let bytes: [UInt8]
        private(set) var offset = 0
        /// What is being read, for messages: "raw transaction", "raw block".
        let subject: String

        init(bytes: [UInt8], subject: String = "raw transaction") {
            self.bytes = bytes
            self.subject = subject
        }

        var isAtEnd: Bool { offset == bytes.count }
        var remaining: Int { bytes.count - offset }

        func peek(offset extra: Int = 0) -> UInt8? {
            offset + extra < bytes.count ? bytes[offset + extra] : nil
        }

        mutating func take(_ count: Int) throws(TokError) -> [UInt8] {
            guard count <= remaining else {
                throw TokError(
                    .badRawTx, "\(subject) ends early: \(count) bytes needed at offset \(offset), \(remaining) left")
            }
            defer { offset += count }
            return Array(bytes[offset..<offset + count])
        }

        /// sha256d of bytes already read, without copying them.
        func sha256d(_ range: Range<Int>) -> [UInt8] {
            precondition(range.lowerBound >= 0 && range.upperBound <= offset, "hashing bytes not yet read")
            return bytes.withUnsafeBytes { Hashing.sha256(Hashing.sha256(UnsafeRawBufferPointer(rebasing: $0[range]))) }
        }

        mutating func littleEndian(byteCount: Int) throws(TokError) -> UInt64 {
            var value: UInt64 = 0
            for (index, byte) in try take(byteCount).enumerated() { value |= UInt64(byte) << (8 * UInt64(index)) }
            return value
        }

        /// A CompactSize that must use its shortest form (as Core requires) and be at most `max`.
        mutating func compactSize(max: Int, what: String) throws(TokError) -> Int {
            let first = try littleEndian(byteCount: 1)
            let value: UInt64
            let smallest: UInt64
            switch first {
            case 0xfd: value = try littleEndian(byteCount: 2); smallest = 0xfd
            case 0xfe: value = try littleEndian(byteCount: 4); smallest = 0x1_0000
            case 0xff: value = try littleEndian(byteCount: 8); smallest = 0x1_0000_0000
            default: value = first; smallest = 0
            }
            guard value >= smallest else {
                throw TokError(.badRawTx, "\(what) is not in its shortest CompactSize form")
            }
            guard value <= UInt64(max) else {
                throw TokError(.badRawTx, "\(what) \(value) exceeds the limit of \(max)")
            }
            return Int(value)
        }
    }
}
