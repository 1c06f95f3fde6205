/// Keccak-256 as Ethereum uses it: the original Keccak submission's padding (0x01 … 0x80),
/// not FIPS 202 SHA3-256 (0x06 … 0x80). Neither OpenSSL 3.0 nor swift-crypto offers this
/// variant, so the permutation lives here. It runs on every EIP-55 check, so the state is
/// 25 local lanes with the round fully unrolled, and nothing touches the heap but the result.
public enum Keccak {
    /// Bytes absorbed per permutation: 1600-bit state minus 2 × 256-bit capacity.
    static let rateBytes = 136
    private static let rateLanes = rateBytes / 8

    public static func keccak256(_ bytes: some Collection<UInt8>) -> [UInt8] {
        let lanes: (UInt64, UInt64, UInt64, UInt64)
        if let fromContiguous = bytes.withContiguousStorageIfAvailable({ keccak256Lanes(UnsafeRawBufferPointer($0)) }) {
            lanes = fromContiguous
        } else {
            lanes = Array(bytes).withUnsafeBytes { keccak256Lanes($0) }
        }
        return [UInt8](unsafeUninitializedCapacity: 32) { out, count in
            let raw = UnsafeMutableRawBufferPointer(out)
            raw.storeBytes(of: lanes.0.littleEndian, toByteOffset: 0, as: UInt64.self)
            raw.storeBytes(of: lanes.1.littleEndian, toByteOffset: 8, as: UInt64.self)
            raw.storeBytes(of: lanes.2.littleEndian, toByteOffset: 16, as: UInt64.self)
            raw.storeBytes(of: lanes.3.littleEndian, toByteOffset: 24, as: UInt64.self)
            count = 32
        }
    }

    /// The digest as its four little-endian lanes, so callers that only need a few bits
    /// (EIP-55 reads one nibble per letter) skip building an array.
    /// Digest byte i is `(lane[i / 8] >> (8 * (i % 8))) & 0xff`.
    static func keccak256Lanes(_ input: UnsafeRawBufferPointer) -> (UInt64, UInt64, UInt64, UInt64) {
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 25) { stateBuffer in
            let state = stateBuffer.baseAddress!
            state.initialize(repeating: 0, count: 25)
            var offset = 0
            let count = input.count
            while count - offset >= rateBytes {
                for lane in 0..<rateLanes {
                    state[lane] ^= UInt64(
                        littleEndian: input.loadUnaligned(fromByteOffset: offset + 8 * lane, as: UInt64.self))
                }
                permute(state)
                offset += rateBytes
            }
            // The final block always exists (possibly holding only padding), so the padding
            // bytes 0x01 and 0x80 may land in the same byte when 135 bytes remain.
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: rateBytes) { blockBuffer in
                let block = UnsafeMutableRawBufferPointer(blockBuffer)
                block.initializeMemory(as: UInt8.self, repeating: 0)
                let tail = count - offset
                if tail > 0 {
                    block.baseAddress!.copyMemory(from: input.baseAddress! + offset, byteCount: tail)
                }
                block[tail] ^= 0x01
                block[rateBytes - 1] ^= 0x80
                for lane in 0..<rateLanes {
                    state[lane] ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: 8 * lane, as: UInt64.self))
                }
            }
            permute(state)
            return (state[0], state[1], state[2], state[3])
        }
    }

    /// Iota constants for the 24 rounds, from the Keccak reference's degree-8 LFSR.
    private static let roundConstants: [UInt64] = [
        0x0000_0000_0000_0001, 0x0000_0000_0000_8082, 0x8000_0000_0000_808A, 0x8000_0000_8000_8000,
        0x0000_0000_0000_808B, 0x0000_0000_8000_0001, 0x8000_0000_8000_8081, 0x8000_0000_0000_8009,
        0x0000_0000_0000_008A, 0x0000_0000_0000_0088, 0x0000_0000_8000_8009, 0x0000_0000_8000_000A,
        0x0000_0000_8000_808B, 0x8000_0000_0000_008B, 0x8000_0000_0000_8089, 0x8000_0000_0000_8003,
        0x8000_0000_0000_8002, 0x8000_0000_0000_0080, 0x0000_0000_0000_800A, 0x8000_0000_8000_000A,
        0x8000_0000_8000_8081, 0x8000_0000_0000_8080, 0x0000_0000_8000_0001, 0x8000_0000_8000_8008,
    ]

    @inline(__always)
    private static func rotl(_ value: UInt64, _ bits: UInt64) -> UInt64 {
        (value &<< bits) | (value &>> (64 &- bits))
    }

    /// Keccak-f[1600]. Lane aN is A[x, y] with N = x + 5y. The rho offsets and the pi
    /// destination of every lane are written out (b[y, 2x+3y] = rotl(A[x, y] ^ D[x], r[x, y]))
    /// so the compiler keeps all 25 lanes in registers or on the stack. Kept whole on purpose
    /// (81 lines, over the 70 tok aims for): split into calls, the lanes would go through memory.
    private static func permute(_ state: UnsafeMutablePointer<UInt64>) {
        var a0 = state[0], a1 = state[1], a2 = state[2], a3 = state[3], a4 = state[4]
        var a5 = state[5], a6 = state[6], a7 = state[7], a8 = state[8], a9 = state[9]
        var a10 = state[10], a11 = state[11], a12 = state[12], a13 = state[13], a14 = state[14]
        var a15 = state[15], a16 = state[16], a17 = state[17], a18 = state[18], a19 = state[19]
        var a20 = state[20], a21 = state[21], a22 = state[22], a23 = state[23], a24 = state[24]

        for roundConstant in roundConstants {
            // theta
            let c0 = a0 ^ a5 ^ a10 ^ a15 ^ a20
            let c1 = a1 ^ a6 ^ a11 ^ a16 ^ a21
            let c2 = a2 ^ a7 ^ a12 ^ a17 ^ a22
            let c3 = a3 ^ a8 ^ a13 ^ a18 ^ a23
            let c4 = a4 ^ a9 ^ a14 ^ a19 ^ a24
            let d0 = c4 ^ rotl(c1, 1)
            let d1 = c0 ^ rotl(c2, 1)
            let d2 = c1 ^ rotl(c3, 1)
            let d3 = c2 ^ rotl(c4, 1)
            let d4 = c3 ^ rotl(c0, 1)
            // rho and pi
            let b0 = a0 ^ d0
            let b1 = rotl(a6 ^ d1, 44)
            let b2 = rotl(a12 ^ d2, 43)
            let b3 = rotl(a18 ^ d3, 21)
            let b4 = rotl(a24 ^ d4, 14)
            let b5 = rotl(a3 ^ d3, 28)
            let b6 = rotl(a9 ^ d4, 20)
            let b7 = rotl(a10 ^ d0, 3)
            let b8 = rotl(a16 ^ d1, 45)
            let b9 = rotl(a22 ^ d2, 61)
            let b10 = rotl(a1 ^ d1, 1)
            let b11 = rotl(a7 ^ d2, 6)
            let b12 = rotl(a13 ^ d3, 25)
            let b13 = rotl(a19 ^ d4, 8)
            let b14 = rotl(a20 ^ d0, 18)
            let b15 = rotl(a4 ^ d4, 27)
            let b16 = rotl(a5 ^ d0, 36)
            let b17 = rotl(a11 ^ d1, 10)
            let b18 = rotl(a17 ^ d2, 15)
            let b19 = rotl(a23 ^ d3, 56)
            let b20 = rotl(a2 ^ d2, 62)
            let b21 = rotl(a8 ^ d3, 55)
            let b22 = rotl(a14 ^ d4, 39)
            let b23 = rotl(a15 ^ d0, 41)
            let b24 = rotl(a21 ^ d1, 2)
            // chi
            a0 = b0 ^ (~b1 & b2)
            a1 = b1 ^ (~b2 & b3)
            a2 = b2 ^ (~b3 & b4)
            a3 = b3 ^ (~b4 & b0)
            a4 = b4 ^ (~b0 & b1)
            a5 = b5 ^ (~b6 & b7)
            a6 = b6 ^ (~b7 & b8)
            a7 = b7 ^ (~b8 & b9)
            a8 = b8 ^ (~b9 & b5)
            a9 = b9 ^ (~b5 & b6)
            a10 = b10 ^ (~b11 & b12)
            a11 = b11 ^ (~b12 & b13)
            a12 = b12 ^ (~b13 & b14)
            a13 = b13 ^ (~b14 & b10)
            a14 = b14 ^ (~b10 & b11)
            a15 = b15 ^ (~b16 & b17)
            a16 = b16 ^ (~b17 & b18)
            a17 = b17 ^ (~b18 & b19)
            a18 = b18 ^ (~b19 & b15)
            a19 = b19 ^ (~b15 & b16)
            a20 = b20 ^ (~b21 & b22)
            a21 = b21 ^ (~b22 & b23)
            a22 = b22 ^ (~b23 & b24)
            a23 = b23 ^ (~b24 & b20)
            a24 = b24 ^ (~b20 & b21)
            // iota
            a0 ^= roundConstant
        }

        state[0] = a0; state[1] = a1; state[2] = a2; state[3] = a3; state[4] = a4
        state[5] = a5; state[6] = a6; state[7] = a7; state[8] = a8; state[9] = a9
        state[10] = a10; state[11] = a11; state[12] = a12; state[13] = a13; state[14] = a14
        state[15] = a15; state[16] = a16; state[17] = a17; state[18] = a18; state[19] = a19
        state[20] = a20; state[21] = a21; state[22] = a22; state[23] = a23; state[24] = a24
    }
}
