/// EIP-55 mixed-case checksum addresses: the canonical spelling of an EVM account.
/// A letter is uppercase exactly when the matching nibble of keccak256(lowercase hex, as
/// ASCII) is 8 or more.
public enum EIP55 {
    static let hexDigitCount = 40

    /// "0x" plus the checksummed form of 40 hex digits (optional "0x", any case). The input
    /// must be well formed, e.g. taken from a log topic; validate untrusted text with
    /// `canonicalAddress`.
    public static func checksummed(_ lowercaseHex40: some StringProtocol) -> String {
        UTF8Scan.withBytes(lowercaseHex40) { utf8 -> String in
            let hasPrefix =
                utf8.count == hexDigitCount + 2
                && utf8[0] == UInt8(ascii: "0") && utf8[1] == UInt8(ascii: "x")
            let start = hasPrefix ? 2 : 0
            precondition(utf8.count - start == hexDigitCount, "EIP55.checksummed needs 40 hex digits")
            return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: hexDigitCount) { lowercase -> String in
                for offset in 0..<hexDigitCount {
                    let byte = utf8[start + offset]
                    precondition(UTF8Scan.hexValue(byte) < 16, "EIP55.checksummed needs 40 hex digits")
                    lowercase[offset] = byte | (byte >= UInt8(ascii: "A") ? 0x20 : 0)
                }
                return render(UnsafeBufferPointer(lowercase), digest(of: UnsafeBufferPointer(lowercase)))
            }
        }
    }

    /// Accepts "0x" + 40 hex digits. All-lowercase and all-uppercase carry no checksum and
    /// are accepted; mixed case is a checksum and must match exactly (.badChecksum), since a
    /// mistyped mixed-case address is what EIP-55 exists to catch. Returns the EIP-55 form.
    public static func canonicalAddress(_ s: some StringProtocol) throws(TokError) -> String {
        let result = UTF8Scan.withBytes(s) { utf8 -> Result<String, TokError> in
            guard utf8.count == hexDigitCount + 2,
                utf8[0] == UInt8(ascii: "0"), utf8[1] == UInt8(ascii: "x")
            else {
                return .failure(TokError(.badAccount, "EVM address must be 0x followed by 40 hex digits"))
            }
            return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: hexDigitCount) {
                lowercase -> Result<String, TokError> in
                // Without a branch per digit: random hex digits defeat branch prediction.
                var notHex: UInt8 = 0
                var lowerSeen: UInt8 = 0
                var upperSeen: UInt8 = 0
                for offset in 0..<hexDigitCount {
                    let byte = utf8[2 + offset]
                    let isDigit: UInt8 = byte &- UInt8(ascii: "0") < 10 ? 1 : 0
                    let isUpper: UInt8 = byte &- UInt8(ascii: "A") < 6 ? 1 : 0
                    let isLower: UInt8 = byte &- UInt8(ascii: "a") < 6 ? 1 : 0
                    notHex |= 1 ^ (isDigit | isUpper | isLower)
                    lowerSeen |= isLower
                    upperSeen |= isUpper
                    lowercase[offset] = byte | (isUpper << 5)
                }
                guard notHex == 0 else {
                    return .failure(TokError(.badAccount, "EVM address must be 0x followed by 40 hex digits"))
                }
                let sawLower = lowerSeen != 0
                let sawUpper = upperSeen != 0
                let lowercaseDigits = UnsafeBufferPointer(lowercase)
                let hash = digest(of: lowercaseDigits)
                if sawLower && sawUpper {
                    for offset in 0..<hexDigitCount where lowercase[offset] >= UInt8(ascii: "a") {
                        let isUpper = utf8[2 + offset] < UInt8(ascii: "a")
                        if isUpper != (nibble(hash, offset) >= 8) {
                            return .failure(
                                TokError(
                                    .badChecksum,
                                    "EVM address has a wrong EIP-55 checksum (mixed case must match exactly)"))
                        }
                    }
                }
                return .success(render(lowercaseDigits, hash))
            }
        }
        return try result.get()
    }

    private typealias Digest = (UInt64, UInt64, UInt64, UInt64)

    @inline(__always)
    private static func digest(of lowercaseDigits: UnsafeBufferPointer<UInt8>) -> Digest {
        Keccak.keccak256Lanes(UnsafeRawBufferPointer(lowercaseDigits))
    }

    /// Nibble `index` of the digest, counting from the high nibble of byte 0.
    @inline(__always)
    private static func nibble(_ hash: Digest, _ index: Int) -> UInt8 {
        let byteIndex = index >> 1
        let lane: UInt64
        switch byteIndex >> 3 {
        case 0: lane = hash.0
        case 1: lane = hash.1
        case 2: lane = hash.2
        default: lane = hash.3
        }
        let byte = UInt8(truncatingIfNeeded: lane >> UInt64((byteIndex & 7) * 8))
        return index & 1 == 0 ? byte >> 4 : byte & 0x0F
    }

    private static func render(_ lowercaseDigits: UnsafeBufferPointer<UInt8>, _ hash: Digest) -> String {
        String(unsafeUninitializedCapacity: hexDigitCount + 2) { out in
            out[0] = UInt8(ascii: "0")
            out[1] = UInt8(ascii: "x")
            for offset in 0..<hexDigitCount {
                let byte = lowercaseDigits[offset]
                let isLetter = byte >= UInt8(ascii: "a")
                out[2 + offset] = isLetter && nibble(hash, offset) >= 8 ? byte - 0x20 : byte
            }
            return hexDigitCount + 2
        }
    }
}

/// EVM transaction hashes. CAIP has no standard for transaction ids; tok keys them by the
/// lowercase hex form, which is what JSON-RPC nodes return.
public enum EVMTxId {
    static let hexDigitCount = 64

    /// "0x" + 64 hex digits of either case, returned lowercase; anything else is .badTxId.
    public static func canonical(_ s: some StringProtocol) throws(TokError) -> String {
        let result = UTF8Scan.withBytes(s) { utf8 -> Result<String, TokError> in
            guard utf8.count == hexDigitCount + 2,
                utf8[0] == UInt8(ascii: "0"), utf8[1] == UInt8(ascii: "x")
            else {
                return .failure(TokError(.badTxId, "EVM transaction id must be 0x followed by 64 hex digits"))
            }
            // Without a branch per digit: random hex digits defeat branch prediction.
            var notHex: UInt8 = 0
            var upper: UInt8 = 0
            for index in 2..<utf8.count {
                let byte = utf8[index]
                let isDigit: UInt8 = byte &- UInt8(ascii: "0") < 10 ? 1 : 0
                let isUpper: UInt8 = byte &- UInt8(ascii: "A") < 6 ? 1 : 0
                let isLower: UInt8 = byte &- UInt8(ascii: "a") < 6 ? 1 : 0
                notHex |= 1 ^ (isDigit | isUpper | isLower)
                upper |= isUpper
            }
            guard notHex == 0 else {
                return .failure(TokError(.badTxId, "EVM transaction id must be 0x followed by 64 hex digits"))
            }
            // Already canonical (what nodes and most clients send): no new string.
            if upper == 0 { return .success(String(s)) }
            return .success(
                String(unsafeUninitializedCapacity: utf8.count) { out in
                    out[0] = UInt8(ascii: "0")
                    out[1] = UInt8(ascii: "x")
                    for index in 2..<utf8.count {
                        let byte = utf8[index]
                        out[index] = byte | (byte >= UInt8(ascii: "A") ? 0x20 : 0)
                    }
                    return utf8.count
                })
        }
        return try result.get()
    }
}
